"""Errors a user can cause. The CLI turns each into one line on stderr and an exit code."""


class TablespaceError(Exception):
    """A request was refused or failed; nothing was changed (exit 1)."""

    exit_code = 1


class UsageError(TablespaceError):
    """The command was given wrongly (exit 2), as click's own usage errors."""

    exit_code = 2


class PermissionDenied(TablespaceError):
    """The caller lacks the role the action needs (exit 3)."""

    exit_code = 3


class Rejected(Exception):
    """Raised inside the fold: this op is invalid at this point of the log.

    Not a user error: the op stays in the log, marked with the reason.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
