"""`sync --watch`: run a sync round whenever the shared folder changes, or
every so often for a git remote (nothing local changes when someone pushes)."""

from __future__ import annotations

import time
from collections.abc import Callable

from watchfiles import watch

from tablespace.core.group import Group

GIT_POLL_SECONDS = 30.0


def watch_folder(group: Group, one_round: Callable[[], None], *, poll_seconds: float = GIT_POLL_SECONDS) -> None:
    folder = group.transport.folder
    try:
        if folder is None:
            while True:
                time.sleep(poll_seconds)
                one_round()
        # watchfiles debounces bursts (a peer writing many files) into one round
        for _changes in watch(folder, debounce=400, step=100, raise_interrupt=True):
            one_round()
    except KeyboardInterrupt:
        pass  # ctrl+c: stop quietly (watchfiles would log a warning if it caught it itself)
