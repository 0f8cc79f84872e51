"""`sync --watch`: run a sync round whenever the shared folder changes."""

from __future__ import annotations

from collections.abc import Callable

from watchfiles import watch

from tablespace.core.group import Group


def watch_folder(group: Group, one_round: Callable[[], None]) -> None:
    folder = group.transport.folder
    if folder is None:
        return
    try:
        # watchfiles debounces bursts (a peer writing many files) into one round
        for _changes in watch(folder, debounce=400, step=100, raise_interrupt=False):
            one_round()
    except KeyboardInterrupt:
        pass
