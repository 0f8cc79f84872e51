"""The group's settings, changed by moderators."""

from __future__ import annotations

from typing import Any

from tablespace.core.errors import UsageError
from tablespace.core.group import Group


def change_settings(
    group: Group,
    *,
    name: str | None = None,
    purpose: str | None = None,
    rules: str | None = None,
    conduct: str | None = None,
    post_cap: int | None = None,
) -> None:
    """Moderators: the group's name, purpose, house rules, code of conduct,
    and weekly post cap per member (0: none). None leaves one as it is."""
    given = {"name": name, "purpose": purpose, "rules": rules, "conduct": conduct, "post_cap": post_cap}
    payload: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if not payload:
        raise UsageError("nothing to change: give at least one setting")
    group.write("group.edit", payload)
