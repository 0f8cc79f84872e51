"""Curating a thread from the thread list or the thread itself: pin it to
the top, or change its tags. The fold decides who may (a curator, a
moderator, or for tags also the thread's author); a refusal shows as any
refused write does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tablespace import actions
from tablespace.core.limits import split_tags

if TYPE_CHECKING:
    from tablespace.tui.chrome import TablespaceScreen
    from tablespace.tui.jobs import Job


def toggle_pin(screen: TablespaceScreen, thread_id: str, pinned: bool) -> None:
    """Pin a thread that is not pinned, unpin one that is."""
    screen.act(
        "unpinning" if pinned else "pinning",
        lambda g: actions.pin(g, thread_id, pinned=not pinned),
        success="Unpinned." if pinned else "Pinned: it lists first.",
    )


def edit_tags(screen: TablespaceScreen, thread_id: str, title: str, tags: list[str]) -> None:
    """A form with the thread's tags; saving adds and removes the difference."""
    from tablespace.tui.modals import AskForm, Field

    def save(values: dict[str, str | bool]) -> Job[None]:
        wanted = set(split_tags(str(values["tags"])))
        add, remove = sorted(wanted - set(tags)), sorted(set(tags) - wanted)
        return screen.write_job(
            "retagging", lambda g: actions.tag(g, thread_id, add=add, remove=remove), success="Tags saved."
        )

    screen.app.push_screen(
        AskForm(
            f"Tags of “{title}”",
            "Words separated by spaces or commas, e.g. starter flour.",
            [Field("tags", "tags", value=" ".join(tags))],
            save,
        )
    )
