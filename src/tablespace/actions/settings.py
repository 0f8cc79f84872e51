"""The group's settings, changed by moderators."""

from __future__ import annotations

from typing import Any

from tablespace.core.errors import UsageError, checked_before_writing
from tablespace.core.group import Group
from tablespace.core.rituals import check_zone


def change_settings(
    group: Group,
    *,
    name: str | None = None,
    purpose: str | None = None,
    rules: str | None = None,
    conduct: str | None = None,
    post_cap: int | None = None,
    tz: str | None = None,
    member_cap: int | None = None,
    welcome: str | None = None,
    intro_template: str | None = None,
    first_win: str | None = None,
) -> None:
    """Moderators: the group's name, purpose, house rules, code of conduct,
    weekly post cap per member (0: none), time zone (an IANA name, which
    rituals added after take by default), size cap, and the onboarding
    walk's welcome, intro template and first win (a resource; "" for none).
    None leaves one as it is."""
    if tz is not None:
        with checked_before_writing():
            tz = check_zone(tz.strip())
    if first_win:
        first_win = group.resource_id(first_win)
    given = {
        "name": name,
        "purpose": purpose,
        "rules": rules,
        "conduct": conduct,
        "post_cap": post_cap,
        "tz": tz,
        "member_cap": member_cap,
        "welcome": welcome,
        "intro_template": intro_template,
        "first_win": first_win,
    }
    payload: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if not payload:
        raise UsageError("nothing to change: give at least one setting")
    group.write("group.edit", payload)
