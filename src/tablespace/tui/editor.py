"""Write a draft in the member's own editor ($VISUAL, then $EDITOR, then nano or vi).

The draft goes to a Markdown file in a private temporary directory (the
directory 0700, the file 0600, both removed afterwards, with any swap or
backup files the editor left there). The file format:

    # Title of the thread          <- only when the draft has a title
    tags: starter hydration        <- only when the draft has tags
                                   <- a blank line
    The body, in Markdown…

A reply (or an edit of a reply) is just the body. When reading back, a missing
`# ` title line or `tags:` line leaves that field as it was.

Nothing here touches the screen: the compose modal suspends the app around
`edit_text` (see `ComposeModal.action_open_editor`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tablespace.core.files import TooBig, read_at_most
from tablespace.core.limits import BODY_MAX_BYTES, split_tags

FALLBACK_EDITORS = ("nano", "vi")
DRAFT_NAME = "draft.md"
# A post's limit; house rules and the code of conduct fit in it too.
DRAFT_MAX_BYTES = BODY_MAX_BYTES


class EditorError(Exception):
    """The editor could not be run, failed, or left something unreadable; the text is kept."""


@dataclass(frozen=True)
class Draft:
    """What the compose modal and the editor file hold: a new thread, a reply or an edit."""

    title: str | None  # None: the draft has no title field
    tags: list[str] | None  # None: the draft has no tags field
    body: str


def editor_command(environ: Mapping[str, str] | None = None) -> list[str]:
    """The editor to run, as an argv (e.g. `EDITOR="code --wait"` -> ["code", "--wait"])."""
    environ = os.environ if environ is None else environ
    for var in ("VISUAL", "EDITOR"):
        value = environ.get(var, "").strip()
        if not value:
            continue
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise EditorError(f"${var} is not a valid command ({exc}): {value}") from None
        if not argv:
            continue
        if shutil.which(argv[0], path=environ.get("PATH")) is None:
            raise EditorError(f"The editor {argv[0]!r} (from ${var}) was not found.")
        return argv
    for name in FALLBACK_EDITORS:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return [found]
    raise EditorError("No editor found: set $EDITOR (e.g. EDITOR=nano) or install nano or vi.")


def draft_to_text(draft: Draft) -> str:
    head = []
    if draft.title is not None:
        head.append(f"# {draft.title}")
    if draft.tags is not None:
        head.append("tags: " + " ".join(draft.tags))
    body = draft.body if draft.body.endswith("\n") or not draft.body else draft.body + "\n"
    return "\n".join(head) + "\n\n" + body if head else body


def text_to_draft(text: str, previous: Draft) -> Draft:
    """Read the file back; fields the file leaves out keep their previous value."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    title, tags = previous.title, previous.tags
    if previous.title is not None or previous.tags is not None:
        while i < len(lines) and not lines[i].strip():
            i += 1
        if previous.title is not None and i < len(lines) and (lines[i].startswith("# ") or lines[i] == "#"):
            title = lines[i][1:].strip()
            i += 1
        if previous.tags is not None and i < len(lines) and lines[i].lower().startswith("tags:"):
            tags = split_tags(lines[i][5:])
            i += 1
    while i < len(lines) and not lines[i].strip():  # blank lines before the body
        i += 1
    body = "\n".join(lines[i:]).rstrip("\n")
    return Draft(title, tags, body)


@contextmanager
def _ctrl_c_goes_to_the_editor() -> Iterator[None]:
    """While the app is suspended the terminal is in cooked mode, so ctrl+c (vim's
    "cancel") sends SIGINT to us too; a KeyboardInterrupt would end the app and
    lose the draft. A no-op handler (not SIG_IGN: the editor must not inherit
    an ignored SIGINT; handlers are reset at exec) keeps us running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def edit_text(text: str, command: list[str]) -> str:
    """Run `command <file>` on a private temp file holding `text`; return what it holds after.

    Raises EditorError (the caller keeps its text) if the editor cannot start,
    exits non-zero, removes the file, or leaves bytes that are not UTF-8.
    """
    folder = Path(tempfile.mkdtemp(prefix="tablespace-draft-"))  # mode 0700
    try:
        path = folder / DRAFT_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        try:
            with _ctrl_c_goes_to_the_editor():
                result = subprocess.run([*command, str(path)], check=False)
        except OSError as exc:
            raise EditorError(f"Could not run {command[0]!r}: {exc.strerror or exc}") from None
        if result.returncode != 0:
            raise EditorError(
                f"{Path(command[0]).name} exited with status {result.returncode}; the draft is unchanged."
            )
        try:
            with open(path, "rb") as stream:
                raw = read_at_most(stream, DRAFT_MAX_BYTES)
        except FileNotFoundError:
            raise EditorError("The draft file was removed in the editor; the draft is unchanged.") from None
        except TooBig:
            raise EditorError(
                f"The edited file is over {DRAFT_MAX_BYTES} bytes (the limit for a post); the draft is unchanged."
            ) from None
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise EditorError("The edited file is not UTF-8 text; the draft is unchanged.") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
