"""Work that must not run on the app's event loop: every write (one may wait
for the database while a sync round holds it), anything that touches the
shared folder or a git remote, and key derivation.

A `Job` runs in a worker thread and reports back with a `JobDone` message to
the screen that started it (the message then bubbles up to the app, which
shows in the header what is running). A job that needs the group opens its
own connection in the thread (`actions.in_own_group`): an SQLite connection
belongs to the thread that opened it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from textual.dom import DOMNode
from textual.message import Message
from textual.message_pump import MessagePump

from tablespace.core.errors import TablespaceError

T = TypeVar("T")


@dataclass(frozen=True)
class Job(Generic[T]):
    busy: str  # what the header says while it runs, e.g. "admitting Ana"
    run: Callable[[], T]  # in a worker thread
    done: Callable[[T], object] = lambda _result: None  # back on the app's thread, with what `run` returned
    refused: str = "Refused"  # the title of the notice if `run` raises a refusal


@dataclass
class JobStarted(Message):
    job: Job[Any]


@dataclass
class JobDone(Message):
    job: Job[Any]
    started_by: DOMNode  # the screen (or modal, or the app) that acts on the outcome
    result: Any = None
    refusal: str | None = None  # None: it succeeded
    orphaned: bool = False  # the node that started it closed meanwhile: the app says how it ended


def start_job(node: DOMNode, job: Job[Any]) -> None:
    """Run `job` in a thread; `node` (and, bubbling, the app) hears `JobDone`."""
    node.post_message(JobStarted(job))
    app = node.app  # here: a node closed by the time the job ends no longer knows its app
    node.run_worker(lambda: _run(node, app, job), thread=True, group="jobs", name=job.busy, exit_on_error=False)


def _run(node: DOMNode, app: MessagePump, job: Job[Any]) -> None:
    try:
        done = JobDone(job, node, result=job.run())
    except TablespaceError as exc:
        done = JobDone(job, node, refusal=str(exc))
    except OSError as exc:  # the disk, the folder or the remote said no
        done = JobDone(job, node, refusal=f"could not write: {exc.strerror or exc}")
    if not node.post_message(done):  # a form closed while it ran: the app still hears how it ended
        app.post_message(JobDone(job, node, done.result, done.refusal, orphaned=True))
