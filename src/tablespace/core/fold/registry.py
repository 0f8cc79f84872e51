"""The one registry of the fold's handlers: op kind -> handler."""

from __future__ import annotations

from collections.abc import Callable

from tablespace.core.fold.context import FoldContext
from tablespace.core.ops import Op

Handler = Callable[[FoldContext, Op], None]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register
