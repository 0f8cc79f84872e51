"""The Moderation section, shown only to moderators: queues and the record.

Tabs: Reports (oldest open first, with a response clock: amber after 24 h,
red after 48 h), Join requests, Members (time-out, remove, moderator role),
Circles (every circle's members and activity, never its name or content,
and taking someone out of one), Evidence (forks and quarantined files from sync), Log (what was done, by
whom, why) and Settings (code of conduct, house rules, weekly post cap,
archiving stale threads). Every action is one key; the ones that take
something away ask for a reason in a form that is itself the confirmation,
and every reason lands, sealed, in the moderation log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Markdown, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from tablespace import actions
from tablespace.core import circle_queries, group_queries, member_queries, post_queries
from tablespace.core.clock import now, parse_duration, parse_instant
from tablespace.core.errors import TablespaceError
from tablespace.core.text import visible
from tablespace.tui.chrome import KeyFooter, SectionScreen
from tablespace.tui.format import relative, shown
from tablespace.tui.invites import MadeInvite, ask_for_invite, copy_invite, show_invite
from tablespace.tui.jobs import Job
from tablespace.tui.markdown import MembersMarkdown
from tablespace.tui.modals import AskForm, Field
from tablespace.tui.tables import Column, Flexible, RowTable
from tablespace.tui.thread_screen import ThreadScreen

if TYPE_CHECKING:
    from tablespace.actions import JoinRequest
    from tablespace.core.group import Group

T = TypeVar("T")

# The reason every action that takes something away asks for.
REASON = Field("reason", "Why (kept in the moderation record)", required="Say why: it goes in the moderation log.")
# What giving something back (ending a time-out, a role given) asks: a reason if there is one.
OPTIONAL_REASON = Field("reason", "Why, if you like (kept in the moderation record)")
CLOCK_STYLE = {"ok": "green", "amber": "bold yellow", "red": "bold red"}
TABS = ("reports", "requests", "members", "circles", "evidence", "log", "settings")
# action -> the tab it belongs to (check_action hides the others' keys)
ACTION_TAB = {
    "resolve": "reports",
    "note": "reports",
    "open_post": "reports",
    "toggle_resolved": "reports",
    "admit": "requests",
    "deny": "requests",
    "invite": "requests",
    "copy_invite": "requests",
    "time_out": "members",
    "end_time_out": "members",
    "remove": "members",
    "toggle_moderator": "members",
    "circle_remove": "circles",
    "edit_conduct": "settings",
    "edit_rules": "settings",
    "post_cap": "settings",
    "archive_stale": "settings",
}

TAB_TITLES = {
    "reports": "Reports",
    "requests": "Requests",
    "members": "Members",
    "circles": "Circles",
    "evidence": "Evidence",
    "log": "Log",
    "settings": "Settings",
}


def pane_widgets(tab: str) -> list[Widget]:
    """What a tab shows, made the first time it is shown."""
    if tab == "settings":
        return [VerticalScroll(MembersMarkdown(id="settings-view"), id="settings-box")]
    details = {
        "reports": ["report-detail"],
        "requests": ["invite-made", "requests-empty"],
        "members": [],
        "circles": ["circles-note"],
        "evidence": ["evidence-empty"],
        "log": ["log-detail"],
    }[tab]
    widgets: list[Widget] = [RowTable(id=f"{tab}-table")]
    widgets += [Static(id=detail, classes="detail") for detail in details]
    if tab == "requests":
        widgets[1].display = False  # the invite made here, once there is one
    return widgets


COLUMNS: dict[str, tuple[Column, ...]] = {
    "reports": ("Waiting", Flexible("From", 8), Flexible("Post"), Flexible("Reason")),
    "requests": ("Name", "Asked", "Id", Flexible("Note")),
    "members": ("Name", "Roles", "Status", "Id"),
    "circles": ("Id", "Size", Flexible("Members"), "Made by", "Last active", "Name"),
    "evidence": ("What", Flexible("Who / file"), Flexible("Detail")),
    "log": ("When", Flexible("Who", 8), "Action", Flexible("What"), Flexible("Why")),
}


def add_columns(screen: ModerationScreen, tab: str) -> None:
    if tab in COLUMNS:
        cast(RowTable, screen.table(tab)).add_columns(*COLUMNS[tab])


# --- the section -----------------------------------------------------------------------


class ModerationScreen(SectionScreen):
    SECTION = "moderation"
    # Join requests sit in the folder and reports arrive as our own sync files
    # them: neither counts as imported ops, so re-read after every sync round.
    REFRESH_EVERY_ROUND = True
    READS_THE_CLOCK = True
    BINDINGS = [
        Binding("left_square_bracket", "tab(-1)", "Previous tab", show=False, id="moderation.prev_tab"),
        Binding("right_square_bracket", "tab(1)", "Tab", id="moderation.next_tab"),
        Binding("d", "resolve", "Decide", id="moderation.resolve"),
        Binding("n", "note", "Note", id="moderation.note"),
        Binding("o", "open_post", "Open post", id="moderation.open_post"),
        Binding("v", "toggle_resolved", "Resolved", id="moderation.toggle_resolved"),
        Binding("a", "admit", "Admit", id="moderation.admit"),
        Binding("x", "deny", "Deny", id="moderation.deny"),
        Binding("i", "invite", "Invite", id="moderation.invite"),
        Binding("y", "copy_invite", "Copy code", id="moderation.copy_invite"),
        Binding("t", "time_out", "Time out", id="moderation.time_out"),
        Binding("u", "end_time_out", "End it", id="moderation.end_time_out"),
        Binding("r", "remove", "Remove", id="moderation.remove"),
        Binding("m", "toggle_moderator", "Moderator", id="moderation.toggle_moderator"),
        Binding("r", "circle_remove", "Take out", id="moderation.circle_remove"),
        Binding("c", "edit_conduct", "Conduct", id="moderation.edit_conduct"),
        Binding("h", "edit_rules", "Rules", id="moderation.edit_rules"),
        Binding("p", "post_cap", "Post cap", id="moderation.post_cap"),
        Binding("z", "archive_stale", "Archive", id="moderation.archive_stale"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.show_resolved = False
        self.reports_problem: str | None = None  # why the reports could not be read, if they could not
        self.reports: list[actions.Report] = []
        self.log_entries: list = []
        self._names: dict[str, str] = {}
        self.requests: list[JoinRequest] = []
        self._reading_requests: Worker[None] | None = None
        self.people: list[member_queries.MemberView] = []
        self.circles: list[circle_queries.CircleOverview] = []
        self.circle_count = 0  # for the tab's label, kept while the tab itself waits to be shown
        self.evidence: list[actions.Evidence] = []
        self._stale: set[str] = set()  # tabs whose fill waits for them to be shown (see _shown_now)
        self._built: set[str] = set()  # tabs whose widgets are made (see tab_changed)
        self.invite_code: str | None = None  # the last one made here, for `y`

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with TabbedContent(id="mod-tabs"):
            for tab in TABS:
                yield TabPane(TAB_TITLES[tab], *(pane_widgets(tab) if tab == TABS[0] else ()), id=tab)
        yield KeyFooter()

    def on_mount(self) -> None:
        self._built.add(TABS[0])
        add_columns(self, TABS[0])
        self.table(TABS[0]).focus()

    def table(self, tab: str) -> DataTable:
        return self.query_one(f"#{tab}-table", DataTable)

    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active or "reports"

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = TABS[(TABS.index(self.tab) + step) % len(TABS)]

    @on(TabbedContent.TabActivated)
    async def tab_changed(self) -> None:
        tab = self.tab
        if tab not in self._built:  # its widgets are made the first time it is shown
            await self.query_one(f"TabPane#{tab}", TabPane).mount_all(pane_widgets(tab))
            self._built.add(tab)
            add_columns(self, tab)
        if tab != "settings":
            self.table(tab).focus()
        if tab in self._stale:
            self.fill_tab(tab)
        self.refresh_bindings()

    def fill_tab(self, tab: str) -> None:
        """Fill one tab with what it shows (read again)."""
        {
            "reports": lambda: self._fill_reports(now()),
            "requests": lambda: self._show_requests(self.requests),
            "members": self._fill_members,
            "circles": self._fill_circles,
            "evidence": self._fill_evidence,
            "log": self._fill_log,
            "settings": self._fill_settings,
        }[tab]()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_invite" and self.invite_code is None:
            return False
        wanted = ACTION_TAB.get(action)
        return wanted is None or wanted == self.tab

    # --- data ------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        if not self.ts_app.is_moderator():
            self.query_one("#report-detail", Static).update("Only moderators see this section.")
            return
        moment = now()
        self.reports_problem = None
        self._names = member_queries.member_names(self.group.conn)
        self._fill_reports(moment)
        self._fill_requests()
        self._fill_members()
        self._fill_evidence()
        self._fill_log()
        self._fill_circles()
        self._fill_settings()
        self._show_counts()

    def _shown_now(self, tab: str) -> bool:
        """Whether `tab` is shown, so its widgets are filled now; if not,
        it is marked to be filled when it is. A tab's widgets are made and
        filled only while it is shown: most refreshes are of a section whose
        other tabs are out of view, and a section made on its key shows its
        first tab sooner."""
        if self.tab == tab and tab in self._built:
            self._stale.discard(tab)
            return True
        self._stale.add(tab)
        return False

    def _show_counts(self) -> None:
        """The tabs' counts and the header line: after a refresh, and again
        when the join requests arrive from their worker."""
        moment = now()
        open_count = sum(1 for r in self.reports if r.status == "open")
        tabs = self.query_one(TabbedContent)
        for tab, label, count in (
            ("reports", "Reports", open_count),
            ("requests", "Requests", len(self.requests)),
            ("circles", "Circles", self.circle_count),
            ("evidence", "Evidence", len(self.evidence)),
        ):
            tabs.get_tab(tab).label = f"{label} ({count})" if count else label
        late = sum(1 for r in self.reports if actions.response_clock(r, moment) == "red")
        info = f"{open_count} open report{'s' if open_count != 1 else ''}"
        short = f"{open_count} open"
        if late:
            info += f", {late} over 48 h"
            short += f", {late} late"
        # The tabs count the requests too: the narrowest bar leaves them out.
        self.set_info(
            info + f" · {len(self.requests)} asking to join", short + f" · {len(self.requests)} to join", short
        )

    def _refill(self, table: DataTable, rows: list[tuple], keys: list[str], *, start_at_end: bool = False) -> None:
        """Fill a table again, the cursor where it was (a first fill puts it
        on the first row; with `start_at_end`, on the last, and a cursor on
        the last row follows the rows added after it)."""
        at_end = table.row_count == 0 or table.cursor_row == table.row_count - 1
        keep = table.cursor_row
        table.clear()
        for row, key in zip(rows, keys, strict=True):
            table.add_row(*row, key=key)
        if rows:
            row = len(rows) - 1 if start_at_end and at_end else min(keep or 0, len(rows) - 1)
            table.move_cursor(row=row, animate=False, scroll=True)

    def _unsealed(self, read: Callable[[Group], list[T]]) -> list[T]:
        """What `read` unseals, or nothing if this home lacks the key to the
        moderators' records (the section then says why instead of failing)."""
        try:
            return read(self.group)
        except TablespaceError as problem:
            self.reports_problem = str(problem)
            return []

    def _fill_reports(self, moment) -> None:  # noqa: ANN001
        names = self.names()
        everything = self._unsealed(actions.report_queue)
        self.reports = [r for r in everything if self.show_resolved or r.status == "open"]
        rows = []
        for r in self.reports:
            if r.status == "open":
                waited = Text(relative(r.created_at, at=moment), CLOCK_STYLE[actions.response_clock(r, moment)])
            else:
                waited = Text("✓ resolved", "dim")
            first_line = r.excerpt.splitlines()[0] if r.excerpt.strip() else "(no text)"
            post = Text(f"{names.get(r.post_author, '?')}: {first_line}")
            rows.append((waited, names.get(r.reporter, r.reporter[:8]), post, r.reason))
        if self._shown_now("reports"):
            self._refill(self.table("reports"), rows, [r.id for r in self.reports])
            self.show_report()

    def _fill_requests(self) -> None:
        """Join requests live in the shared folder: read on a worker, so a slow
        or unmounted folder never holds up the pane."""
        self._reading_requests = self._read_requests()

    async def filled(self) -> None:
        """Until the join requests read in the background are in their table."""
        if self._reading_requests is not None:
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await self._reading_requests.wait()

    @work(thread=True, exclusive=True, group="join-requests", name="reading join requests")
    def _read_requests(self) -> None:
        try:
            # Refreshed each sync round: no fetch of a git remote here.
            requests = actions.in_own_group(self.group, lambda g: actions.join_requests(g, pull=False))()
        except TablespaceError:  # the folder is unreachable: nothing to decide from here
            requests = []
        self.app.call_from_thread(self._show_requests, requests)

    def _show_requests(self, requests: list[JoinRequest]) -> None:
        from tablespace.actions import PROBLEM_NOTES

        if not self.is_attached:
            return  # read for a screen closed since (the app quitting)
        self.requests = requests
        if not self._shown_now("requests"):
            self._show_counts()
            return
        rows = [
            (
                Text(r.name, "bold"),
                relative(parse_instant(r.created_at)),
                Text(r.id[:8], "dim"),
                Text(f"{r.problem}: {PROBLEM_NOTES[r.problem]}", "dim italic") if r.problem else "",
            )
            for r in self.requests
        ]
        self._refill(self.table("requests"), rows, [r.id for r in self.requests])
        self.query_one("#requests-empty", Static).update(
            "a admits the highlighted request; x turns it down."
            if rows
            else "Nobody is asking to join. i makes an invite code to send."
        )
        self._show_counts()

    def _fill_members(self) -> None:
        if not self._shown_now("members"):
            return  # read when shown: only this tab's keys use the people
        self.people = member_queries.members(self.group.conn)
        rows = []
        for m in self.people:
            status = m.status.replace("_", " ")
            if m.timeout_until:
                status += f" until {m.timeout_until:%d %b %H:%M}"
            name = Text(m.name, "bold")
            if m.id == self.group.me:
                name.append("  (you)", "dim")
            rows.append((name, ", ".join(m.roles) or "member", status, Text(m.id[:8], "dim")))
        self._refill(self.table("members"), rows, [m.id for m in self.people])

    def _fill_circles(self) -> None:
        """Every circle as the fold shows it to the whole group: its name is
        shown only for one we are in (to anyone else it is sealed)."""
        if not self._shown_now("circles"):
            self.circle_count = circle_queries.count_circles(self.group.conn)
            return
        self.circles = actions.all_circles(self.group)
        self.circle_count = len(self.circles)
        rows = [
            (
                Text(c.id[:8], "dim"),
                str(len(c.members)),
                ", ".join(c.members),
                c.maker,
                relative(c.last_activity) if c.last_activity else "—",
                c.name if c.in_circle and c.name else Text("sealed", "dim italic"),
            )
            for c in self.circles
        ]
        self._refill(self.table("circles"), rows, [c.id for c in self.circles])
        self.query_one("#circles-note", Static).update(
            "r takes someone out of the highlighted circle. What is written in a circle you are not in, "
            "and its name, stay sealed: a member's report is how you read a post of it."
            if rows
            else "Nobody has made a circle."
        )

    def _fill_evidence(self) -> None:
        names = self.names()
        self.evidence = actions.evidence(self.group)
        if not self._shown_now("evidence"):
            return
        rows = [(e.kind, names.get(e.who, e.who), e.detail) for e in self.evidence]
        self._refill(self.table("evidence"), rows, [f"{e.kind}:{e.who}" for e in self.evidence])
        self.show_evidence()

    @on(DataTable.RowHighlighted, "#evidence-table")
    def show_evidence(self) -> None:
        """The highlighted row in full: a file's path and reason rarely fit the table."""
        e = self.selected("evidence", self.evidence)
        if e is None:
            self.query_one("#evidence-empty", Static).update("Nothing set aside: no forks, no quarantined files.")
            return
        text = Text.assemble((f"{e.kind}: {self.names().get(e.who, e.who)}", "bold"), "\n", e.detail)
        if e.kind == "quarantined":
            text.append(
                "\nA copy is in your home's quarantine folder; the file in the shared folder is left as it is.", "dim"
            )
        self.query_one("#evidence-empty", Static).update(shown(text))

    def _fill_log(self) -> None:
        if not self._shown_now("log"):
            return  # read when shown: only this tab shows the entries
        names = self.names()
        # oldest first, as `tablespace modlog` lists it
        self.log_entries = self._unsealed(lambda group: actions.modlog(group, limit=500))
        rows = [(f"{e.at:%d %b %H:%M}", names.get(e.by, e.by[:8]), e.action, e.what, e.why) for e in self.log_entries]
        keys = [f"{n}:{e.op_id}" for n, e in enumerate(self.log_entries)]
        self._refill(self.table("log"), rows, keys, start_at_end=True)  # on the newest
        self.show_log_entry()

    @on(DataTable.RowHighlighted, "#log-table")
    def show_log_entry(self) -> None:
        e = self.selected("log", self.log_entries)
        text = Text()
        if e is None and self.reports_problem:
            text.append(f"The log cannot be read: {self.reports_problem}", "bold red")
        if e is not None:
            text.append(f"{self.names().get(e.by, e.by[:8])} {e.action} {e.what}", "bold")
            text.append(f"\n{e.at:%A %d %B %Y, %H:%M} UTC")
            text.append("\n" + (f"Why: {e.why}" if e.why else "No reason was given."), "" if e.why else "dim")
        self.query_one("#log-detail", Static).update(shown(text))

    def _fill_settings(self) -> None:
        """The Settings pane is Markdown, the slowest widget to fill."""
        if not self._shown_now("settings"):
            return
        s = group_queries.settings(self.group.conn)
        cap = int(s.get("post_cap", "0") or 0)
        self.query_one("#settings-view", Markdown).update(
            "\n\n".join(
                [
                    "## Code of conduct  ·  `c` to edit",
                    visible(s.get("conduct", "").strip(), multiline=True) or "_None yet._",
                    "## House rules  ·  `h` to edit",
                    visible(s.get("rules", "").strip(), multiline=True) or "_None yet._",
                    "## Weekly post cap  ·  `p` to change",
                    f"{cap} threads and replies per member per 7 days (moderators exempt)." if cap else "None.",
                    "## Archive stale threads  ·  `z`",
                    "Threads quiet for a while leave the list; they stay readable and searchable.",
                ]
            )
        )

    def names(self) -> dict[str, str]:
        """Member names as of the last refresh (read once per refresh)."""
        return self._names

    def selected(self, tab: str, items: list):  # noqa: ANN201
        table = self.table(tab)
        if not items or table.cursor_row is None or not 0 <= table.cursor_row < len(items):
            return None
        return items[table.cursor_row]

    @on(DataTable.RowHighlighted, "#reports-table")
    def show_report(self) -> None:
        detail = self.query_one("#report-detail", Static)
        r = self.selected("reports", self.reports)
        if r is None and self.reports_problem:
            detail.update(Text(f"Reports cannot be read: {self.reports_problem}", "bold red"))
            return
        if r is None:
            detail.update("No open reports." + ("" if self.show_resolved else "  v shows resolved ones too."))
            return
        names = self.names()
        text = Text.assemble(
            ("Reported post", "bold"),
            f" by {names.get(r.post_author, '?')} ({r.post[:8]}), as the reporter quoted it\n",
            (r.excerpt, "italic"),
            "\n\n",
        )
        if r.post_now is None and r.circle is not None:
            text.append("Written in a circle you are not in: the quote is all you read of it.\n\n", "dim")
        elif r.post_now is None:
            text.append("The post has not arrived here yet: sync to check the quote.\n\n", "dim")
        elif not r.post_now:
            text.append("The post has been deleted or hidden since.\n\n", "dim")
        elif not r.post_now.startswith(r.excerpt):
            text.append_text(Text.assemble(("The post now reads\n", "bold"), (r.post_now, "italic"), "\n\n"))
        text.append_text(Text.assemble(("Reason", "bold"), f" from {names.get(r.reporter, '?')}\n", r.reason))
        for by, at, note in r.notes:
            text.append(f"\n\nNote by {names.get(by, '?')}, {relative(at)}: ", "bold")
            text.append(note)
        if r.decision:
            text.append(f"\n\nDecided by {names.get(r.decided_by or '', '?')}: ", "bold")
            text.append(r.decision + (" (post hidden)" if r.hid_post else ""))
            if r.told:
                text.append("\nTold the reporter: ", "bold")
                text.append(r.told)
        detail.update(shown(text))

    # --- reports ------------------------------------------------------------------------------

    def action_toggle_resolved(self) -> None:
        self.show_resolved = not self.show_resolved
        self.refresh_data()

    def action_resolve(self) -> None:
        r = self.selected("reports", self.reports)
        if r is None or r.status != "open":
            self.notify("Pick an open report first.", severity="warning")
            return

        def resolve(values: dict[str, str | bool]) -> Job[None]:
            decision, hide = str(values["decision"]), bool(values["check"])
            tell = str(values["tell"]).strip() or None
            return self.write_job(
                "recording the decision",
                lambda g: actions.resolve(g, r.id, decision, hide_post=hide, tell_reporter=tell),
                success="Report resolved" + (" and the post hidden" if hide else ""),
            )

        self.app.push_screen(
            AskForm(
                "Decide this report",
                f"Reported: “{r.reason}”\nSay what was decided and why; it goes in the moderation log.",
                [
                    Field(
                        "decision", "The decision, and why", multiline=True, required="Say what was decided and why."
                    ),
                    Field("tell", "A word to the reporter (optional; only they read it)"),
                ],
                resolve,
                verb="resolve",
                checkbox="Hide the post for everyone",
            )
        )

    def action_note(self) -> None:
        r = self.selected("reports", self.reports)
        if r is None:
            return

        def note(values: dict[str, str | bool]) -> Job[None]:
            text = str(values["note"])
            return self.write_job("adding the note", lambda g: actions.note(g, r.id, text), success="Note added")

        self.app.push_screen(
            AskForm(
                "Note on this report",
                "For the other moderators: what you asked, what you heard.",
                [Field("note", "What happened", multiline=True, required="The note is empty.")],
                note,
                verb="add the note",
            )
        )

    def action_open_post(self) -> None:
        r = self.selected("reports", self.reports)
        if r is None:
            return
        if r.post_now is None and r.circle is not None:
            self.notify("That post is in a circle you are not in; its excerpt is all you read.", severity="warning")
            return
        if not post_queries.post_exists(self.group.conn, r.post):
            self.notify("That post is gone (deleted or hidden); its excerpt is kept here.", severity="warning")
            return
        self.app.push_screen(ThreadScreen(r.thread, r.post))  # escape comes back here

    # --- join requests ------------------------------------------------------------------------

    def action_admit(self) -> None:
        """Admitting reads the folder (or pulls the remote) and writes a key
        grant there: in a thread, so the app stays responsive meanwhile."""

        request = self.selected("requests", self.requests)
        if request is None:
            return
        self.act(
            f"admitting {request.name}",
            lambda g: actions.admit(g, request.id),
            success=f"Admitted {request.name}; they can read after their sync",
        )

    def action_invite(self) -> None:
        ask_for_invite(self, self.show_invite)

    def show_invite(self, made: MadeInvite) -> None:
        self.invite_code = made.code
        show_invite(self, self.query_one("#invite-made", Static), made)

    def action_copy_invite(self) -> None:
        if self.invite_code is not None:
            copy_invite(self, self.invite_code)

    def action_deny(self) -> None:

        request = self.selected("requests", self.requests)
        if request is None:
            return

        def do_deny(values: dict[str, str | bool]) -> Job[None]:
            reason = str(values["reason"])
            return self.write_job(
                f"turning down {request.name}",
                lambda g: actions.deny(g, request.id, reason),
                success=f"Turned down {request.name}",
            )

        self.app.push_screen(
            AskForm(
                f"Turn down {request.name}?",
                "They will not be able to join with this request.",
                [REASON],
                do_deny,
                verb="deny",
            )
        )

    # --- members --------------------------------------------------------------------------------

    def _member(self) -> member_queries.MemberView | None:
        m = self.selected("members", self.people)
        if m is not None and m.id == self.group.me:
            self.notify("That is you.", severity="warning")
            return None
        return m

    def action_time_out(self) -> None:

        m = self._member()
        if m is None:
            return

        def do_timeout(values: dict[str, str | bool]) -> Job[None]:
            length, reason = parse_duration(str(values["for"])), str(values["reason"])
            return self.write_job(
                f"timing out {m.name}",
                lambda g: actions.time_out(g, m.id, length, reason),
                success=f"{m.name} is timed out",
            )

        self.app.push_screen(
            AskForm(
                f"Time out {m.name}?",
                "They can read but not post, reply or react until it ends (at most 28 days).",
                [Field("for", "How long: 30m, 24h, 7d", "24h"), REASON],
                do_timeout,
                verb="time out",
            )
        )

    def action_end_time_out(self) -> None:
        m = self._member()
        if m is None:
            return
        if m.status != "timed_out":
            self.notify(f"{m.name} is not timed out.", severity="warning")
            return

        def do_end(values: dict[str, str | bool]) -> Job[None]:
            reason = str(values["reason"])
            return self.write_job(
                f"ending {m.name}'s time-out",
                lambda g: actions.end_time_out(g, m.id, reason),
                success=f"{m.name} can post again",
            )

        self.app.push_screen(
            AskForm(
                f"End {m.name}'s time-out now?",
                "They can post, reply and react again at once.",
                [OPTIONAL_REASON],
                do_end,
                verb="end the time-out",
            )
        )

    def action_remove(self) -> None:

        m = self._member()
        if m is None:
            return

        def do_remove(values: dict[str, str | bool]) -> Job[None]:
            reason = str(values["reason"])  # remove() renews the key, which reaches the folder: a thread
            return self.write_job(
                f"removing {m.name}",
                lambda g: actions.remove(g, m.id, reason),
                success=f"{m.name} was removed; the group's key was renewed",
            )

        self.app.push_screen(
            AskForm(
                f"Remove {m.name} from the group?",
                "Nothing written afterwards will be readable by them. This cannot be undone; they could only join again.",
                [REASON],
                do_remove,
                verb="remove",
            )
        )

    def action_toggle_moderator(self) -> None:
        m = self._member()
        if m is None:
            return
        revoke = "moderator" in m.roles
        heading = f"Take the moderator role from {m.name}?" if revoke else f"Make {m.name} a moderator?"

        def do_role(values: dict[str, str | bool]) -> Job[None]:
            why = str(values["reason"])
            return self.write_job(
                f"changing {m.name}'s role",
                lambda g: actions.set_role(g, m.id, "moderator", revoke=revoke, why=why),
                success=f"{m.name} {'is no longer' if revoke else 'is now'} a moderator",
            )

        self.app.push_screen(
            AskForm(
                heading,
                "The moderators' key is renewed for the new set of moderators at the next sync.",
                [REASON if revoke else OPTIONAL_REASON],
                do_role,
                verb="change the role",
            )
        )

    # --- circles --------------------------------------------------------------------------------

    def action_circle_remove(self) -> None:
        c = self.selected("circles", self.circles)
        if c is None:
            return

        def do_remove(values: dict[str, str | bool]) -> Job[None]:
            who = str(values["member"]).strip()
            return self.write_job(
                f"taking {who} out of circle {c.id[:8]}",
                lambda g: actions.circle_remove(g, c.id, who),
                success=f"{who} is out of circle {c.id[:8]}",
            )

        self.app.push_screen(
            AskForm(
                f"Take someone out of circle {c.id[:8]}?",
                f"In it: {', '.join(c.members)}. Whoever you take out reads nothing written there afterwards; "
                "its next writer makes it a new key.",
                [Field("member", "Who (their name)", required="Name someone in the circle.")],
                do_remove,
                verb="take out",
            )
        )

    # --- settings ---------------------------------------------------------------------------------

    def _edit_text(self, key: str, label: str) -> None:
        current = group_queries.settings(self.group.conn).get(key, "")

        def save(values: dict[str, str | bool]) -> Job[None]:
            text = str(values["text"])
            return self.write_job(
                f"saving the {label.lower()}",
                lambda g: actions.change_settings(g, **{key: text}),
                success=f"{label} saved",
            )

        self.app.push_screen(
            AskForm(
                label, "Markdown. Everyone in the group sees it.", [Field("text", label, current, multiline=True)], save
            )
        )

    def action_edit_conduct(self) -> None:
        self._edit_text("conduct", "Code of conduct")

    def action_edit_rules(self) -> None:
        self._edit_text("rules", "House rules")

    def action_post_cap(self) -> None:
        current = group_queries.settings(self.group.conn).get("post_cap", "0") or "0"

        def save(values: dict[str, str | bool]) -> Job[None]:
            text = str(values["cap"]).strip() or "0"
            if not text.isdigit():
                raise TablespaceError("the cap is a whole number (0 for none)")
            cap = int(text)
            return self.write_job(
                "saving the post cap", lambda g: actions.change_settings(g, post_cap=cap), success="Post cap saved"
            )

        self.app.push_screen(
            AskForm(
                "Weekly post cap",
                "Threads and replies per member per 7 days; moderators are "
                "exempt and ritual prompts don't count. 0 turns it off.",
                [Field("cap", "0 for none", current)],
                save,
            )
        )

    def action_archive_stale(self) -> None:
        def archive(values: dict[str, str | bool]) -> Job[list[actions.Archived]]:
            quiet = parse_duration(str(values["quiet"]))
            return self.write_job(
                "archiving stale threads",
                lambda g: actions.archive_stale(g, quiet),
                success=lambda done: f"Archived {len(done)} thread{'s' if len(done) != 1 else ''}",
            )

        self.app.push_screen(
            AskForm(
                "Archive stale threads?",
                "Threads with no activity for this long (not pinned, not rituals) leave the "
                "list and become read-only. Search still finds them.",
                [Field("quiet", "Quiet for: e.g. 90d", "90d")],
                archive,
                verb="archive",
            )
        )
