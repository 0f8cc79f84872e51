"""Modal screens: compose/edit, confirm, react, search, add-resource, help, and
a form that asks for text (a report's reason, a moderator's decision).

A modal that performs an action takes an `on_submit` callback and stays open
(keeping the draft) when the action is refused; the refusal is shown as a
line inside it, above its keys. Only a successful submit dismisses it. An `on_submit` that
touches the folder or a remote returns a `Job` instead of acting: the form
shows it is busy while the job runs in a thread, and closes (or shows the
refusal) when it reports back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message_pump import MessagePump
from textual.notifications import Notification, SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Markdown, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from tablespace.core import search_queries
from tablespace.core.errors import TablespaceError
from tablespace.core.limits import split_tags
from tablespace.core.search_queries import SearchHit
from tablespace.core.text import visible
from tablespace.tui.editor import Draft
from tablespace.tui.format import (
    MARK_END,
    MARK_START,
    key_hint,
    marked,
    mention_choices,
    mention_of,
    plain,
    relative,
    shown,
    typed_mention,
)
from tablespace.tui.jobs import Job, JobDone, start_job
from tablespace.tui.markdown import MembersMarkdown
from tablespace.tui.textual_private import withdraw_notification

REACTIONS = ("👍", "❤️", "🎉", "😂", "🙏", "🔥", "👀", "🍞")


def after_typed_keys(screen: ModalScreen, callback: Callable[[], object]) -> None:
    """Run `callback` once every key typed before now has been handled.

    ctrl+s is a priority binding, so it runs the moment it arrives, while
    keys typed just before it may still be queued on their way: from the app
    to the screen to the focused widget, and (a key the widget leaves to a
    binding, like enter or space on a checkbox) back up through its parents
    to the app, where bindings run. Each queue is in order, so a callback
    relayed behind them along the same path runs after they land.
    """
    focused = screen.focused
    path = [screen, *focused.ancestors_with_self] if focused is not None else [screen, screen.app]
    _relay(path, callback)


def _relay(path: list[MessagePump], callback: Callable[[], object]) -> None:
    """Queue `callback` on each message pump of `path` in turn, then run it."""
    if path:
        path[0].call_later(_relay, path[1:], callback)
    else:
        callback()


def field_keys(prefix: str) -> list[Binding]:
    """Tab and shift+tab as priority bindings in a form: the focus moves
    before the next key is handed out, so a burst of keys (a fast typist, a
    paste through tmux) fills the next field instead of this one. A key
    bound here hides Screen's own binding of it, so that one is repeated for
    the widgets the priority action leaves alone."""
    return [
        Binding("tab", "field(1)", "Next field", show=False, priority=True, id=f"{prefix}.tab"),
        Binding("shift+tab", "field(-1)", "Previous field", show=False, priority=True, id=f"{prefix}.shift_tab"),
        Binding("tab", "app.focus_next", "Focus Next", show=False),
        Binding("shift+tab", "app.focus_previous", "Focus Previous", show=False),
    ]


def move_field(screen: Screen[Any], step: int) -> None:
    """The `field` action of a form: only from a one-line Input, so a TextArea
    or a completion list keeps its own use of tab."""
    if not isinstance(screen.focused, Input):
        raise SkipAction()
    if step > 0:
        screen.focus_next()
    else:
        screen.focus_previous()


class FormModal(ModalScreen[bool]):
    """A modal that acts when submitted: ctrl+s waits for the keys typed just
    before it, a refusal is shown and keeps the modal (and its text) open, and
    only a successful action closes it. Enter in a one-line field moves on to
    the next field (see `action_next_field`)."""

    BINDINGS = [
        Binding("enter", "next_field", "Next field", show=False, priority=True, id="form.next_field"),
        *field_keys("form"),
    ]

    REFUSED = "Refused"  # what the refusal line says first
    STAY: ClassVar[object] = object()  # what `on_submit` returns to keep the form open (it asked something first)
    LAST_FIELD_SUBMITS = False  # enter in the last field submits (else the focus goes round to the first)

    def __init__(self, on_submit: Callable[[Any], object]) -> None:
        super().__init__()
        self.on_submit = on_submit
        self.busy = False  # a job it started is running
        self._said: list[Notification] = []  # its toasts (the editor's news): taken down once it is done

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information", **kwargs: Any) -> None:
        said = self.app.notify(message, title=title, severity=severity, **kwargs)
        if isinstance(said, Notification):
            self._said.append(said)

    def dismiss(self, result: Any = None) -> AwaitComplete:
        """Closing: what the form said about its fields is over with."""
        for said in self._said:
            withdraw_notification(self.app, said)
        return super().dismiss(result)

    def collect(self) -> object | None:
        """What to hand `on_submit`, or None if the form is not ready (say why)."""
        raise NotImplementedError

    def action_submit(self) -> None:
        after_typed_keys(self, self._submit)

    def _submit(self) -> None:
        if not self.is_active or self.busy:
            return  # already dismissed (a second ctrl+s), or already at work
        value = self.collect()
        if value is None:
            return
        try:
            outcome = self.on_submit(value)
        except TablespaceError as exc:
            self.refuse(str(exc))
            return
        except OSError as exc:  # the disk or the shared folder said no: keep the form (and its text)
            self.refuse(f"could not write: {exc.strerror or exc}")
            return
        if outcome is FormModal.STAY:
            return
        if isinstance(outcome, Job):
            self.run(outcome)
            return
        self.dismiss(True)

    def run(self, job: Job[Any]) -> None:
        """Work on `job` with the form open: it closes when the job is done,
        and stays (with its text) if the job is refused."""
        self.set_busy(True)
        start_job(self, job)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.query_one("#dialog").loading = busy

    @on(JobDone)
    def job_done(self, message: JobDone) -> None:
        self.set_busy(False)
        if message.refusal is not None:
            # the job's own word for it ("Not added"), unless it left the default
            self.refuse(message.refusal, message.job.refused if message.job.refused != Job.refused else None)
            return
        self.dismiss(True)
        message.job.done(message.result)

    def refusal_line(self) -> Static:
        """Where the form says why it did not act: a line of its own above
        the keys, next to what has to change (a toast would cover the form's
        top, its title and first field at 80x24). A form that does not
        compose one gets it on its first refusal."""
        line = Static(id="refusal", classes="refusal")
        line.display = False
        return line

    def refuse(self, reason: str, title: str | None = None) -> None:
        """The action was refused: say why inside the form; the form (and its text) stays."""
        self.say(f"{title or self.REFUSED}: {reason}")

    def say(self, text: str) -> None:
        """What keeps the form from acting (a refusal, a field left empty), on its refusal line."""
        found = self.query("#refusal")
        if found:
            line = found.only_one(Static)
        else:
            line = self.refusal_line()
            dialog = self.query_one("#dialog")
            hints = dialog.query_children(".dialog-hint")
            dialog.mount(line, before=hints.last() if hints else None)
        line.update(Text(f"✗ {visible(text, multiline=True)}", "bold"))
        line.display = True

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_field(self, step: int) -> None:
        move_field(self, step)

    def action_next_field(self) -> None:
        """A priority binding, not Input.Submitted: the focus moves before the
        next key is handed out, so a fast typist's next field gets the next
        keys (Submitted arrives after them). Only in an Input: a TextArea
        takes enter as a new line, a checkbox or button as a press."""
        if not isinstance(self.focused, Input):
            raise SkipAction()
        chain = self.focus_chain
        if self.LAST_FIELD_SUBMITS and chain and self.focused is chain[-1]:
            self.action_submit()
        else:
            self.focus_next()


class ComposeModal(FormModal):
    """New thread, reply or edit: optional title and tags, a Markdown body with preview.

    ctrl+o writes the draft in $VISUAL / $EDITOR (see tablespace.tui.editor for
    the file format) and reads it back into the fields; the modal stays open to
    preview and post.
    """

    BINDINGS = [
        Binding("ctrl+s", "submit", "Post", priority=True, id="compose.submit"),
        Binding("ctrl+t", "toggle_preview", "Preview", priority=True, id="compose.preview"),
        Binding("ctrl+o", "open_editor", "Open in $EDITOR", priority=True, id="compose.editor"),
        Binding("escape", "cancel", "Cancel", priority=True, id="compose.cancel"),
        # While `@` names are offered below the body (see offer_mentions):
        # (enter completes too: see action_next_field)
        Binding("tab", "complete_mention", "Complete name", show=False, priority=True, id="compose.mention"),
        Binding("down", "mention_cursor(1)", "Next name", show=False, priority=True, id="compose.mention_down"),
        Binding("up", "mention_cursor(-1)", "Previous name", show=False, priority=True, id="compose.mention_up"),
    ]

    def __init__(
        self,
        heading: str,
        on_submit: Callable[[Draft], object],
        *,
        title: str | None = None,
        tags: list[str] | None = None,
        body: str = "",
        submit_label: str = "Post",
        names: Iterable[str] = (),
    ) -> None:
        super().__init__(on_submit)
        self.heading = heading
        self.initial_title = title
        self.initial_tags = tags
        self.initial_body = body
        self.submit_label = submit_label
        self.names = list(names)  # the roster, for completing `@` names

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="compose"):
            yield Label(shown(self.heading), classes="dialog-title")
            if self.initial_title is not None:
                yield Input(self.initial_title, placeholder="Title", id="title")
            if self.initial_tags is not None:
                yield Input(" ".join(self.initial_tags), placeholder="tags, e.g. starter hydration", id="tags")
            yield TextArea(self.initial_body, id="body", soft_wrap=True, show_line_numbers=False)
            yield OptionList(id="mention-choices")
            with VerticalScroll(id="preview-box"):
                yield MembersMarkdown(id="preview")
            yield Label(self.hint(), classes="dialog-hint", id="compose-hint")

    def hint(self) -> Text:
        """The keys; the editor's file shows the title and tags as "# title"
        and "tags: …" lines itself."""
        return key_hint(
            ("ctrl+s", self.submit_label.lower()), ("ctrl+t", "preview"), ("ctrl+o", "$EDITOR"), ("esc", "cancel")
        )

    def on_mount(self) -> None:
        self.query_one("#preview-box").display = False
        self.query_one("#mention-choices").display = False
        first = "#title" if self.initial_title is not None and not self.initial_title else "#body"
        self.query_one(first).focus()

    # --- completing `@` names ---------------------------------------------------

    @property
    def mention_list(self) -> OptionList:
        return self.query_one("#mention-choices", OptionList)

    @on(TextArea.Changed, "#body")
    @on(TextArea.SelectionChanged, "#body")
    def offer_mentions(self) -> None:
        """Offer the roster's names that fit the `@` name being typed."""
        choices = self.mention_choices_now()
        box = self.mention_list
        if not choices:
            box.display = False
            return
        shown_now = [str(option.id) for option in box.options]
        if shown_now != choices:
            box.set_options([Option(Text(visible(name)), id=name) for name in choices])
            box.highlighted = 0
        box.display = True

    def mention_choices_now(self) -> list[str]:
        body = self.query_one("#body", TextArea)
        if not self.names or body.selection.start != body.selection.end:
            return []
        row, column = body.cursor_location
        typed = typed_mention(body.document.get_line(row)[:column])
        return mention_choices(typed[1], self.names) if typed is not None else []

    def action_complete_mention(self) -> None:
        box = self.mention_list
        if not box.display or box.highlighted is None or not isinstance(self.focused, TextArea):
            raise SkipAction()
        name = str(box.get_option_at_index(box.highlighted).id)
        body = self.query_one("#body", TextArea)
        row, column = body.cursor_location
        typed = typed_mention(body.document.get_line(row)[:column])
        if typed is None:
            raise SkipAction()
        body.replace(mention_of(name) + " ", (row, typed[0]), (row, column))
        box.display = False

    def action_next_field(self) -> None:
        """Enter completes the name offered, else moves on as in every form."""
        if self.mention_list.display and isinstance(self.focused, TextArea):
            self.action_complete_mention()
        else:
            super().action_next_field()

    def action_mention_cursor(self, step: int) -> None:
        box = self.mention_list
        if not box.display or not isinstance(self.focused, TextArea):
            raise SkipAction()
        if step > 0:
            box.action_cursor_down()
        else:
            box.action_cursor_up()

    @on(OptionList.OptionSelected, "#mention-choices")
    def mention_clicked(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#body", TextArea).focus()
        self.mention_list.highlighted = event.option_index
        self.action_complete_mention()

    def draft(self) -> Draft:
        title = self.query_one("#title", Input).value if self.initial_title is not None else None
        tags = split_tags(self.query_one("#tags", Input).value) if self.initial_tags is not None else None
        return Draft(title=title, tags=tags, body=self.query_one("#body", TextArea).text)

    def action_open_editor(self) -> None:
        """Suspend the app, edit the draft in the member's editor, read it back."""
        from textual.app import SuspendNotSupported

        from tablespace.tui.editor import EditorError, draft_to_text, edit_text, editor_command, text_to_draft

        previous = self.draft()
        try:
            command = editor_command()
            before = draft_to_text(previous)
            try:
                with self.app.suspend():
                    after = edit_text(before, command)
            except SuspendNotSupported:  # headless (tests) or Textual Web: run it without giving up the screen
                after = edit_text(before, command)
        except EditorError as exc:
            self.notify(str(exc), title="Editor", severity="warning")
            return
        if after == before:
            self.notify("No changes in the editor.", title="Editor")
            return
        self.load_draft(text_to_draft(after, previous))

    def load_draft(self, draft: Draft) -> None:
        """Put a draft into the fields; the body change can be undone (ctrl+z)."""
        if draft.title is not None and self.initial_title is not None:
            self.query_one("#title", Input).value = draft.title
        if draft.tags is not None and self.initial_tags is not None:
            self.query_one("#tags", Input).value = " ".join(draft.tags)
        body = self.query_one("#body", TextArea)
        if body.text != draft.body:
            body.replace(draft.body, body.document.start, body.document.end)
        if self.query_one("#preview-box").display:
            self.query_one("#preview", Markdown).update(draft.body or "*nothing to preview yet*")
        else:
            body.focus()
        self.notify(
            f"Draft updated from the editor: ctrl+t to preview, ctrl+s to {self.submit_label.lower()}.", title="Editor"
        )

    def action_toggle_preview(self) -> None:
        box = self.query_one("#preview-box")
        body = self.query_one("#body", TextArea)
        showing = not box.display
        if showing:
            self.query_one("#preview", Markdown).update(body.text or "*nothing to preview yet*")
        box.display = showing
        body.display = not showing
        if not showing:
            body.focus()

    REFUSED = "Not posted"

    def collect(self) -> Draft:
        return self.draft()

    def has_changes(self) -> bool:
        """Something was written (or changed in an edit) that cancelling would lose."""
        draft = self.draft()
        tags = split_tags(" ".join(self.initial_tags)) if self.initial_tags is not None else None
        return (draft.body, draft.title, draft.tags) != (self.initial_body, self.initial_title, tags)

    def action_cancel(self) -> None:
        if self.mention_list.display:  # escape first closes the names offered
            self.mention_list.display = False
            return
        if self.busy or not self.has_changes():  # busy: the draft is on its way, nothing to discard
            self.dismiss(False)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(False)

        self.app.push_screen(ConfirmModal("Discard this draft?", yes="Discard", no="Keep writing"), answered)


class ConfirmModal(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm.yes"),
        Binding("n,escape", "cancel", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, yes: str = "Delete", no: str = "Cancel") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Static(shown(self.question), classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no").focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ReactModal(ModalScreen[str | None]):
    """Pick one of eight reactions; picking one you already gave takes it back."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="react.cancel")] + [
        Binding(str(n), f"pick({n - 1})", emoji, show=False, id=f"react.{n}") for n, emoji in enumerate(REACTIONS, 1)
    ]

    def __init__(self, mine: Iterable[str] = ()) -> None:
        super().__init__()
        self.mine = set(mine)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="react"):
            yield Label("React", classes="dialog-title")
            options = []
            for n, emoji in enumerate(REACTIONS, 1):
                label = Text.assemble((f"{n} ", "dim"), emoji)
                if emoji in self.mine:
                    label.append("  ✓ yours (take back)", "italic")
                options.append(Option(label, id=emoji))
            yield OptionList(*options, id="emoji")

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self, index: int) -> None:
        self.dismiss(REACTIONS[index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReactInsteadModal(ModalScreen[str | None]):
    """A reply that only says "+1", "same" or an emoji: react with `emoji`
    instead (r), post it all the same (p), or go back to the draft (escape).
    Dismisses with "react", "post" or None."""

    BINDINGS = [
        Binding("r", "pick('react')", "React instead", id="react_instead.react"),
        Binding("p", "pick('post')", "Post anyway", id="react_instead.post"),
        Binding("escape", "pick(None)", "Back to the reply", id="react_instead.back"),
    ]

    def __init__(self, emoji: str) -> None:
        super().__init__()
        self.emoji = emoji

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="confirm"):
            yield Static(
                Text.assemble(
                    "This reply says what a reaction says. ",
                    ("A reaction keeps the thread easy to read.", "dim"),
                ),
                classes="question",
            )
            with Horizontal(classes="buttons"):
                yield Button(
                    Text.assemble("React ", shown(self.emoji, multiline=False), " (r)"), variant="primary", id="react"
                )
                yield Button("Post anyway (p)", id="post")
            yield Label(key_hint(("esc", "back to the reply")), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#react").focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_pick(self, choice: str | None) -> None:
        self.dismiss(choice)


RSVP_ANSWERS = (("going", "Going"), ("maybe", "Maybe"), ("no", "Not going"))


class RsvpModal(ModalScreen[str | None]):
    """Answer an event: going, maybe or no (g, m, n); the reader's answer so far is marked."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="rsvp.cancel"),
        Binding("g", "pick('going')", "Going", show=False, id="rsvp.going"),
        Binding("m", "pick('maybe')", "Maybe", show=False, id="rsvp.maybe"),
        Binding("n", "pick('no')", "Not going", show=False, id="rsvp.no"),
    ]

    def __init__(self, title: str, mine: str | None = None) -> None:
        super().__init__()
        self.event_title = title
        self.mine = mine

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="react rsvp"):
            yield Label(
                Text.assemble("Coming to ", shown(self.event_title, multiline=False), "?"), classes="dialog-title"
            )
            options = []
            for answer, words in RSVP_ANSWERS:
                label = Text.assemble((f"{answer[0]} ", "dim"), words)
                if answer == self.mine:
                    label.append("  ✓ yours", "italic")
                options.append(Option(label, id=answer))
            yield OptionList(*options, id="answers")

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self, answer: str) -> None:
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)


SEARCH_PAUSE = 0.12  # seconds without a keystroke before the search runs


SEARCH_ICONS = {"thread": "🧵", "post": "💬", "resource": "📚"}


def hit_text(hit: SearchHit) -> Text:
    """A search result: what it is and its title, then who wrote it, when,
    and the matching words in plain text (Markdown's marks taken out), the
    match highlighted. Two hits in one thread differ by who and when."""
    text = Text.assemble(f"{SEARCH_ICONS.get(hit.kind, '·')} ", (visible(hit.title) or "(untitled)", "bold"), "\n   ")
    text.append(visible(hit.author), "italic")
    text.append(f" · {relative(hit.created_at)} · ", "dim")
    text.append_text(marked(plain(hit.snippet)))
    return text


class SearchModal(ModalScreen[SearchHit | None]):
    """Full-text search over threads, replies and the library as you type."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="search.cancel"),
        Binding("down", "to_results", "Results", show=False, id="search.results"),
    ]

    def __init__(self, conn) -> None:
        super().__init__()
        self.conn = conn
        self.hits: list[SearchHit] = []
        self._pending: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="search"):
            yield Input(placeholder="Search threads, replies and the library…", id="query")
            yield OptionList(id="results")
            yield Label(key_hint(("enter", "open"), ("↓", "results"), ("esc", "close")), classes="dialog-hint")

    @on(Input.Changed, "#query")
    def typed(self, event: Input.Changed) -> None:
        """Search once typing pauses: every keystroke of a fast typist would
        run a search whose results are replaced before anyone reads them."""
        if self._pending is not None:
            self._pending.stop()
        self._pending = self.set_timer(SEARCH_PAUSE, lambda: self.run_search(event.value))

    def run_search(self, text: str) -> None:
        self._pending = None
        results = self.query_one("#results", OptionList)
        results.clear_options()
        self.hits = []
        if not text.strip():
            return
        try:
            self.hits = search_queries.search(self.conn, text, limit=30, prefix_last=True, mark=(MARK_START, MARK_END))
        except TablespaceError:
            return
        for n, hit in enumerate(self.hits):
            results.add_option(Option(hit_text(hit), id=str(n)))
        if self.hits:
            results.highlighted = 0

    def _search_now(self) -> None:
        """A search still waiting for a pause runs at once (enter, ↓)."""
        if self._pending is not None:
            self._pending.stop()
            self.run_search(self.query_one("#query", Input).value)

    @on(Input.Submitted, "#query")
    def submit_first(self) -> None:
        self._search_now()
        results = self.query_one("#results", OptionList)
        if self.hits:
            self.dismiss(self.hits[results.highlighted or 0])

    @on(OptionList.OptionSelected, "#results")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.hits[int(event.option.id or 0)])

    def action_to_results(self) -> None:
        self._search_now()
        if self.hits:
            self.query_one("#results").focus()

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class ResourceDraft:
    title: str
    url: str
    summary: str
    tags: list[str]


class ResourceForm(FormModal):
    BINDINGS = [
        Binding("ctrl+s", "submit", "Add", priority=True, id="resource.submit"),
        Binding("escape", "cancel", "Cancel", priority=True, id="resource.cancel"),
    ]

    REFUSED = "Not added"
    LAST_FIELD_SUBMITS = True

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="resource"):
            yield Label("Add to the library", classes="dialog-title")
            yield Input(placeholder="Title", id="title")
            yield Input(placeholder="https://…", id="url")
            yield Input(placeholder="One-line summary: what is it good for? (no hot takes)", id="summary")
            yield Input(placeholder="tags, e.g. starter flour", id="tags")
            yield Label(key_hint(("ctrl+s", "add"), ("enter", "next field"), ("esc", "cancel")), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#title").focus()

    def collect(self) -> ResourceDraft:
        value = lambda name: self.query_one(f"#{name}", Input).value  # noqa: E731
        return ResourceDraft(value("title"), value("url"), value("summary"), split_tags(value("tags")))


@dataclass(frozen=True)
class HelpRow:
    key: str
    description: str
    binding_id: str


class HelpScreen(ModalScreen[None]):
    """Every binding active on the screen underneath, with its id for the
    keymap. When they do not fit one under the other (at 80x24), the keys
    stand in columns side by side on the whole screen, and the id of the
    key under the cursor is said below them if a column has no room for it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    # Lines of the dialog besides its table: borders, title (and its margin
    # when roomy), the table's header, the hint (three lines when roomy).
    ROOMY_CHROME = 2 + 2 + 1 + 3
    DENSE_CHROME = 2 + 1 + 1  # and the hint's lines
    CELL_PADDING = 2  # a DataTable cell's padding, both sides

    def __init__(self, section: str, rows: list[HelpRow], config_path: Path) -> None:
        super().__init__()
        self.section = section
        self.rows = rows
        self.config_path = config_path  # where the keymap goes
        self.per_column = len(rows)
        self.with_ids = True

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Label(f"Keys — {self.section}", classes="dialog-title")
            yield DataTable(id="bindings", zebra_stripes=True)
            yield Label(self.hint(None), classes="dialog-hint", id="help-hint")

    def on_mount(self) -> None:
        self.lay_out()
        self.query_one(DataTable).focus()

    def on_resize(self) -> None:
        self.lay_out()

    def lay_out(self) -> None:
        """One column of key, what it does and id if they fit the dialog's
        height, else as many columns as the whole screen's height needs."""
        width, height = self.app.size
        count = max(1, len(self.rows))
        dense = count > int(height * 0.9) - self.ROOMY_CHROME
        self.query_one("#dialog").set_class(dense, "dense")
        hint_lines = max(self.lines_of(self.hint(self.rows[0] if self.rows else None, ids)) for ids in (True, False))
        columns = -(-count // max(1, height - self.DENSE_CHROME - hint_lines)) if dense else 1
        self.per_column = -(-count // columns)
        widest = [max((cell_len(part) for part in parts), default=0) for parts in zip(*self.parts(), strict=True)]
        with_ids = sum(widest) + 3 * self.CELL_PADDING
        self.with_ids = not dense or columns * with_ids <= width - 4  # the dialog's borders and padding
        table = self.query_one(DataTable)
        table.cursor_type = "cell" if dense else "row"
        table.clear(columns=True)
        heads = ("Key", "Does", "Id") if self.with_ids else ("Key", "Does")
        for column in range(columns):
            for head, wide in zip(heads, widest or [0, 0, 0], strict=False):
                table.add_column(head, width=max(wide, cell_len(head)), key=f"{head}-{column}")
        for line in range(self.per_column):
            cells: list[Text | str] = []
            for column in range(columns):
                index = column * self.per_column + line
                row = self.rows[index] if index < len(self.rows) else None
                cells += [Text(row.key, style="bold") if row else "", row.description if row else ""]
                if self.with_ids:
                    cells.append(Text(row.binding_id, style="dim") if row else "")
            table.add_row(*cells)
        self.query_one("#help-hint", Label).update(self.hint(None if self.with_ids or not self.rows else self.rows[0]))

    def parts(self) -> list[tuple[str, str, str]]:
        return [(row.key, row.description, row.binding_id) for row in self.rows]

    def lines_of(self, text: Text) -> int:
        """How many lines `text` takes in the dialog at the whole screen's width."""
        room = max(1, self.app.size.width - 4)
        return sum(-(-max(1, cell_len(line)) // room) for line in text.plain.splitlines())

    def hint(self, row: HelpRow | None, with_ids: bool | None = None) -> Text:
        """Where the keymap goes; in columns with no room for ids, the id of
        the key under the cursor."""
        with_ids = self.with_ids if with_ids is None else with_ids
        if with_ids or row is None:
            remap = Text(f'Remap a key: "keymap": {{"<id>": "<key>"}} in {self.config_path}\n')
        elif "," in row.binding_id:  # two keys, two ids: either can be remapped
            remap = Text.assemble("Remap ", (row.key, "bold"), f" ({row.description}): ids {row.binding_id}\n")
            remap.append(f"in {self.config_path}  ")
        else:
            remap = Text.assemble(
                "Remap ", (row.key, "bold"), f' ({row.description}): "keymap": {{"{row.binding_id}": "<key>"}}\n'
            )
            remap.append(f"in {self.config_path}  ")
        keys = [("esc", "close")] if with_ids else [("↑↓←→", "the id of a key"), ("esc", "close")]
        return remap + key_hint(*keys)

    @on(DataTable.CellHighlighted)
    def say_id(self, event: DataTable.CellHighlighted) -> None:
        if self.with_ids:
            return
        line, column = event.coordinate
        index = (column // 2) * self.per_column + line
        if index < len(self.rows):
            self.query_one("#help-hint", Label).update(self.hint(self.rows[index]))

    def action_close(self) -> None:
        self.dismiss(None)


class ReadModal(ModalScreen[None]):
    """Text to read and close (a survey's answers): held by the widget
    only, in memory, and gone with the modal."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="read.close")]

    def __init__(self, heading: str, body: Text) -> None:
        super().__init__()
        self.heading, self.body = heading, body

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="read"):
            yield Label(shown(self.heading), classes="dialog-title")
            with VerticalScroll(id="read-scroll"):
                yield Static(shown(self.body), id="read-body")
            yield Label(key_hint(("↑↓", "scroll"), ("esc", "close")), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#read-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Field:
    id: str
    placeholder: str
    value: str = ""
    multiline: bool = False
    required: str = ""  # if set, what to say when the field is left empty
    label: str = ""  # what the field is: beside it in a form of `rows`, else above it (the field one line high)


class AskForm(FormModal):
    """A heading, what will happen, one or more fields and an optional
    checkbox. ctrl+s does it (and stays open, keeping the text, if refused);
    escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Do it", priority=True, id="ask.submit"),
        Binding("escape", "cancel", "Cancel", priority=True, id="ask.cancel"),
    ]

    def __init__(
        self,
        heading: str,
        explain: str,
        fields: list[Field],
        on_submit: Callable[[dict[str, str | bool]], object],
        *,
        verb: str = "save",
        checkbox: str | None = None,
        rows: bool = False,
    ) -> None:
        super().__init__(on_submit)
        self.heading, self.explain, self.fields = heading, explain, fields
        self.verb, self.checkbox = verb, checkbox
        # One line per field, its label beside it: a form of many fields still fits 80x24.
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="ask rows" if self.rows else "ask"):
            yield Label(shown(self.heading), classes="dialog-title")
            yield Static(shown(self.explain), classes="question")
            for f in self.fields:
                if self.rows and not f.multiline:
                    with Horizontal(classes="field-row"):
                        yield Label(shown(f.label or f.placeholder, multiline=False), classes="field-label")
                        yield Input(f.value, placeholder=f.placeholder, id=f.id, compact=True)
                    continue
                if f.label or self.rows:
                    yield Label(shown(f.label or f.placeholder, multiline=False), classes="field-label")
                if f.multiline:
                    yield TextArea(f.value, id=f.id, soft_wrap=True, show_line_numbers=False)
                else:
                    yield Input(f.value, placeholder=f.placeholder, id=f.id, compact=bool(f.label))
            if self.checkbox:
                yield Checkbox(self.checkbox, id="check")
            fields = len(self.fields) + bool(self.checkbox)
            moving = [("enter/tab", "next field")] if fields > 1 else []
            yield Label(key_hint(("ctrl+s", self.verb), *moving, ("esc", "cancel")), classes="dialog-hint")

    def on_mount(self) -> None:
        if self.fields:
            first = self.query_one(f"#{self.fields[0].id}")
            if isinstance(first, TextArea):
                first.move_cursor(first.document.end)  # editing existing text: carry on at its end
            first.focus()

    def values(self) -> dict[str, str | bool]:
        found: dict[str, str | bool] = {}
        for f in self.fields:
            widget = self.query_one(f"#{f.id}")
            found[f.id] = widget.text if isinstance(widget, TextArea) else widget.value  # type: ignore[union-attr]
        if self.checkbox:
            found["check"] = self.query_one("#check", Checkbox).value
        return found

    def collect(self) -> dict[str, str | bool] | None:
        values = self.values()
        empty = next((f.required for f in self.fields if f.required and not str(values[f.id]).strip()), None)
        if empty:
            self.say(empty)
            return None
        return values


class PassphraseModal(FormModal):
    """Asks for the passphrase that unlocks this group's keys (core/keyfile.py).
    A wrong one is said, the field cleared, and asked again; escape goes on
    without the keys (reading only)."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Unlock", priority=True, id="passphrase.submit"),
        Binding("escape", "cancel", "Read only", priority=True, id="passphrase.cancel"),
    ]

    LAST_FIELD_SUBMITS = True  # one field: enter unlocks
    REFUSED = "Not unlocked"

    def __init__(self, group_dir: Path) -> None:
        super().__init__(self.unlock_job)
        self.group_dir = group_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="ask"):
            yield Label("Unlock your keys", classes="dialog-title")
            yield Static(
                "Your keys for this group are locked with a passphrase. It is needed to sync and to write.",
                classes="question",
                markup=False,
            )
            yield Input(password=True, placeholder="passphrase", id="passphrase")
            yield Label(key_hint(("enter", "unlock"), ("esc", "read only")), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    def collect(self) -> str | None:
        value = self.query_one("#passphrase", Input).value
        if not value:
            self.say("type the passphrase")
            return None
        return value

    def unlock_job(self, passphrase: str) -> Job[None]:
        """Deriving the key from the passphrase takes about a second: in a thread."""
        return Job("unlocking your keys", partial(unlock_keys, self.group_dir, passphrase), refused=self.REFUSED)

    def refuse(self, reason: str, title: str | None = None) -> None:
        self.query_one("#passphrase", Input).value = ""
        super().refuse(reason, title)


def unlock_keys(group_dir: Path, passphrase: str) -> None:
    from tablespace.core import keyfile

    try:
        keyfile.unlock(group_dir, passphrase)
    except keyfile.LockedKeyError:
        raise TablespaceError("wrong passphrase; try again") from None
