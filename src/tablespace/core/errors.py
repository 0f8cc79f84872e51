"""Errors a user can cause. The CLI turns each into one line on stderr and an exit code.

The fold refuses an op with a `Refusal`: its kind and the data to word it,
kept in the log beside the op (ops.reason_kind, ops.reason_data). The kind
decides the exit code; the data words it for whoever reads it, the author
themselves ("you are timed out ...") or anyone else ("the author is ...").
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum


class TablespaceError(Exception):
    """A request was refused or failed; nothing was changed (exit 1)."""

    exit_code = 1


class UsageError(TablespaceError):
    """The command was given wrongly (exit 2), as click's own usage errors."""

    exit_code = 2


class PermissionDenied(TablespaceError):
    """The caller lacks the role the action needs (exit 3)."""

    exit_code = 3


class Busy(TablespaceError):
    """Another command (or the app) held the group's database for the whole
    busy wait: nothing is wrong, and trying again will do (exit 1)."""


class Unreachable(TablespaceError):
    """The shared folder or git remote did not answer; nothing was changed
    there (exit 1)."""


class RefusalKind(StrEnum):
    """Why an op was refused; stored by value in ops.reason_kind."""

    INVALID = "invalid"  # its payload breaks a rule of the format or a size limit
    MISSING = "missing"  # what it names does not exist, or was deleted
    CONFLICT = "conflict"  # what it would make exists already (a member, a name, a decision)
    REFUSED = "refused"  # well formed, but a rule of the group says no at this point
    POST_CAP = "post_cap"  # the author wrote the group's weekly cap of posts already
    BACKDATED = "backdated"  # dated before the author's previous op
    FORK = "fork"  # the author signed two ops for one seq; the rest of their chain is set aside
    PERMISSION = "permission"  # the author lacks the role or ownership it needs
    NOT_MEMBER = "not_member"  # the author was never admitted
    GONE = "gone"  # the author's membership had ended
    TIMED_OUT = "timed_out"  # the author is timed out
    USAGE = "usage"  # a command given wrongly (front ends; the fold never says it)

    @property
    def error(self) -> type[TablespaceError]:
        """The error (and so exit code) of the author's own action refused for this reason."""
        if self in _PERMISSION_KINDS:
            return PermissionDenied
        if self is RefusalKind.USAGE:
            return UsageError
        return TablespaceError


_PERMISSION_KINDS = frozenset({RefusalKind.PERMISSION, RefusalKind.NOT_MEMBER, RefusalKind.GONE, RefusalKind.TIMED_OUT})
Data = Mapping[str, str | int | bool]


@dataclass(frozen=True)
class Refusal:
    """A refusal: its kind, and either a `text` that reads the same to anyone
    or, without one, the `data` its kind is worded from (what, until when)."""

    kind: RefusalKind
    text: str = ""
    data: Data = field(default_factory=dict)

    def for_others(self) -> str:
        """Worded for anyone but the author: "the author is timed out until ..."."""
        return _words(self, own=False)

    def for_author(self) -> str:
        """Worded for the author themselves: "you are timed out until ..."."""
        return _words(self, own=True)

    def error(self) -> TablespaceError:
        """The author's own action refused: the error the CLI and the app show."""
        return self.kind.error(self.for_author())

    def stored_data(self) -> str | None:
        """ops.reason_data: the data as JSON, or None when `text` says it all (ops.reason)."""
        return None if self.text else json.dumps(dict(self.data), sort_keys=True)

    @classmethod
    def from_log(cls, kind: str | None, reason: str | None, data: str | None) -> Refusal:
        """A refusal as the log keeps it. An op refused before the log kept
        kinds has none until the re-fold that migration asks for: refused."""
        refusal_kind = RefusalKind(kind) if kind else RefusalKind.REFUSED
        if data is not None:
            return cls(refusal_kind, data=json.loads(data))
        return cls(refusal_kind, text=reason or "")


def _words(refusal: Refusal, *, own: bool) -> str:
    """The one place a refusal is worded from its kind and data."""
    if refusal.text:
        return refusal.text
    d, kind = refusal.data, refusal.kind
    whose = "your" if own else "the author's"
    if kind is RefusalKind.NOT_MEMBER:
        return (
            "you are not a member of this group yet: a moderator has to admit you (then run `tablespace sync`)"
            if own
            else "the author is not a member of this group"
        )
    if kind is RefusalKind.GONE:
        if d.get("device"):
            return (
                "this device was removed by another of your devices: write from one you still have"
                if own
                else "the author's device had been removed when this was written"
            )
        if "status" in d:
            return f"{whose} membership is {d['status']}"
        return (
            "you are no longer a member of this group (you left or were removed)"
            if own
            else "the author's membership had ended when they wrote this"
        )
    if kind is RefusalKind.TIMED_OUT:
        return f"{'you are' if own else 'the author is'} timed out until {d['until']}"
    if kind is RefusalKind.POST_CAP:
        return (
            f"{'you have' if own else 'the author has'} written {d['count']} posts in the last 7 days, "
            f"the group's weekly cap ({d['cap']}); the next one can go after {d['again']}"
        )
    if kind is RefusalKind.BACKDATED:
        return f"dated before {whose} previous change ({'your' if own else 'their'} clock was set back)"
    if kind is RefusalKind.FORK:
        return (
            f"{'you' if own else 'the author'} signed two different ops as seq {d['seq']} (a fork); "
            f"{'your' if own else 'their'} ops from there on are set aside"
        )
    if kind is RefusalKind.PERMISSION:
        needed = f"only a {d['role']} can {d['action']}"
        return f"{needed}: {whose} role had been taken away" if d.get("revoked") else needed
    raise ValueError(f"no wording for a {kind} refusal with data")


class Rejected(Exception):
    """Raised inside the fold: this op is invalid at this point of the log.

    Not a user error: the op stays in the log, marked with its refusal.
    Build one with the constructor named after its kind (`Rejected.missing`).
    """

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.for_others())
        self.refusal = refusal

    @property
    def reason(self) -> str:
        return self.refusal.for_others()

    @classmethod
    def invalid(cls, text: str) -> Rejected:
        return cls(Refusal(RefusalKind.INVALID, text))

    @classmethod
    def missing(cls, text: str) -> Rejected:
        return cls(Refusal(RefusalKind.MISSING, text))

    @classmethod
    def conflict(cls, text: str) -> Rejected:
        return cls(Refusal(RefusalKind.CONFLICT, text))

    @classmethod
    def refused(cls, text: str) -> Rejected:
        return cls(Refusal(RefusalKind.REFUSED, text))

    @classmethod
    def permission(cls, text: str) -> Rejected:
        """Lacks ownership, or a standing no role gives: worded the same for anyone."""
        return cls(Refusal(RefusalKind.PERMISSION, text))

    @classmethod
    def role_needed(cls, role: str, action: str, *, revoked: bool = False) -> Rejected:
        data: dict[str, str | int | bool] = {"role": role, "action": action}
        if revoked:
            data["revoked"] = True
        return cls(Refusal(RefusalKind.PERMISSION, data=data))

    @classmethod
    def not_member(cls) -> Rejected:
        return cls(Refusal(RefusalKind.NOT_MEMBER, data={}))

    @classmethod
    def gone(cls, status: str | None = None) -> Rejected:
        """Their membership is `status` (removed, left), or without one: had
        ended when they wrote this."""
        return cls(Refusal(RefusalKind.GONE, data={"status": status} if status else {"ended": True}))

    @classmethod
    def device_removed(cls) -> Rejected:
        """Signed after its device was taken away, its member still being in the group."""
        return cls(Refusal(RefusalKind.GONE, data={"device": True}))

    @classmethod
    def timed_out(cls, until: str) -> Rejected:
        return cls(Refusal(RefusalKind.TIMED_OUT, data={"until": until}))

    @classmethod
    def post_cap(cls, count: int, cap: int, again: str) -> Rejected:
        return cls(Refusal(RefusalKind.POST_CAP, data={"count": count, "cap": cap, "again": again}))

    @classmethod
    def backdated(cls) -> Rejected:
        return cls(Refusal(RefusalKind.BACKDATED, data={}))

    @classmethod
    def fork(cls, seq: int) -> Rejected:
        return cls(Refusal(RefusalKind.FORK, data={"seq": seq}))


@contextmanager
def checked_before_writing() -> Iterator[None]:
    """Run a check the fold makes too before anything is written, so a
    mistake is told at once, as the user error the fold's words describe."""
    try:
        yield
    except Rejected as exc:
        raise exc.refusal.error() from None
