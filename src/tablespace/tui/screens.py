"""The screen the first frame needs: the Threads section (the thread view is
in `thread_screen`, loaded by the app's warm-up after the first frame; the
other sections are in `sections`, `health` and `moderation`, loaded on the
first switch to them; what all screens share is in `chrome`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tablespace import actions
from tablespace.core import circle_queries, member_queries, thread_queries
from tablespace.core.clock import now
from tablespace.core.text import visible
from tablespace.tui.chrome import KeyFooter, SectionScreen
from tablespace.tui.curation import edit_tags, toggle_pin
from tablespace.tui.jobs import Job
from tablespace.tui.rooms import GROUP_LABEL, Room, RoomBar, reader_rooms, rituals_line, roster_names
from tablespace.tui.thread_list import ThreadList

if TYPE_CHECKING:
    from tablespace.tui.editor import Draft

# --- threads ---------------------------------------------------------------------


class ThreadsScreen(SectionScreen):
    SECTION = "threads"
    BINDINGS = [
        Binding("enter", "open_thread", "Open", id="threads.open"),
        Binding("c", "new_thread", "New thread", id="threads.new"),
        Binding("n", "next_unread", "Next unread", id="threads.next_unread"),
        Binding("u", "jump_to_news", "Jump to new", id="threads.jump_to_news"),
        # Out of the footer, which must keep the palette hint at 80 columns; ? lists them.
        Binding("P", "pin", "Pin", show=False, id="threads.pin"),
        Binding("t", "tags", "Tags", show=False, id="threads.tags"),
        # The room bar says "[ ] rooms" itself, so the footer keeps its width.
        Binding("right_square_bracket", "room(1)", "Next room", show=False, id="threads.next_room"),
        Binding("left_square_bracket", "room(-1)", "Previous room", show=False, id="threads.previous_room"),
        Binding("C", "new_circle", "New circle", show=False, id="threads.new_circle"),
        Binding("i", "circle_invite", "Invite to this circle", show=False, id="threads.circle_invite"),
        Binding("L", "circle_leave", "Leave this circle", show=False, id="threads.circle_leave"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rooms: list[Room] = [Room(None, GROUP_LABEL)]
        self.room: Room = self.rooms[0]

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield RoomBar(id="room-bar")
        yield Static(id="room-about")
        yield ThreadList(self.group.conn, id="thread-list")
        yield KeyFooter()

    def action_room(self, step: int) -> None:
        """The next (or previous) room, round the ends."""
        index = next((n for n, room in enumerate(self.rooms) if room.circle == self.room.circle), 0)
        self.show_room(self.rooms[(index + step) % len(self.rooms)])

    def show_room(self, room: Room) -> None:
        self.room = room
        self.thread_list.show_room(room.circle)
        self.refresh_data()

    def show_circle(self, circle: str) -> None:
        """The room of `circle` (one just made, or a conversation begun
        elsewhere), read afresh: it may be newer than the room bar."""
        rooms = reader_rooms(self.group.conn, self.group.me)
        room = next((room for room in rooms if room.circle == circle), None)
        if room is not None:
            self.show_room(room)

    def _refresh_rooms(self) -> None:
        """The room bar and the chosen room's line, shown only to a member of
        some circle (the group's room alone needs no bar)."""
        self.rooms = reader_rooms(self.group.conn, self.group.me)
        chosen = next((room for room in self.rooms if room.circle == self.room.circle), None)
        if chosen is None:  # we left it, or it went away: back to the group's room
            chosen = self.rooms[0]
            self.thread_list.show_room(None)
        self.room = chosen
        bar, about = self.query_one(RoomBar), self.query_one("#room-about", Static)
        bar.display = len(self.rooms) > 1
        if bar.display:
            bar.show(self.rooms, chosen.circle, thread_queries.unread_by_room(self.group.conn))
        about.display = chosen.circle is not None
        lines = [chosen.about()]
        if chosen.circle is not None:
            # Only a circle's room shows its rituals: the group's room, where the
            # app opens, does without the ritual schedules' module.
            from tablespace.core import calendar_queries

            moment = now()
            kept = rituals_line(
                (r for r in calendar_queries.rituals(self.group.conn, moment) if r.circle == chosen.circle), moment
            )
            lines += [kept] if kept else []
        about.update(Text("\n".join(lines), no_wrap=True, overflow="ellipsis"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Jump to new only while there is news above the rows in view (the
        footer then shows the key)."""
        if action == "jump_to_news":
            return self.is_mounted and self.thread_list.news_above > 0
        if action in ("circle_invite", "circle_leave"):
            return self.room.circle is not None and not self.room.dm
        return True

    @on(ThreadList.NewsAbove)
    def announce_news(self, event: ThreadList.NewsAbove) -> None:
        self.set_news(f" ↑ {event.count} new · u " if event.count else "")
        self.refresh_bindings()

    def action_jump_to_news(self) -> None:
        self.thread_list.jump_to_news()

    @property
    def thread_list(self) -> ThreadList:
        return self.query_one(ThreadList)

    def refresh_times(self) -> None:
        self.thread_list.refresh_times()

    def refresh_data(self) -> None:
        self._refresh_rooms()
        admitted = self.group.my_status is not None
        where = "" if self.room.circle is None else f" in {self.room.label}"
        waiting = (
            "Waiting for your other device: once it syncs, it lets this one in"
            if self.group.waiting_for_my_device
            else "Waiting to be admitted: once a moderator lets you in"
        )
        self.thread_list.empty_hint = (
            f"No threads{where} yet — press c to start one."
            if admitted
            else f"{waiting}, the group fills in here by itself. "
            "“N waiting” in the header counts the group's changes already here, sealed until then."
        )
        self.thread_list.reload()
        count = self.thread_list.count
        self.set_info(f"{count:,} thread{'s' if count != 1 else ''}")

    def action_open_thread(self) -> None:
        """Enter is bound here, not on the list: the thread screen is pushed in
        the binding, so the keys typed after enter wait for it (see the app's
        burst-key holding) instead of reaching the list."""
        summary = self.thread_list.current
        if summary is not None:
            from tablespace.tui.thread_screen import ThreadScreen

            self.app.push_screen(ThreadScreen(summary.id))

    def action_pin(self) -> None:
        summary = self.thread_list.current
        if summary is not None:
            toggle_pin(self, summary.id, summary.pinned)

    def action_tags(self) -> None:
        summary = self.thread_list.current
        if summary is not None:
            edit_tags(self, summary.id, summary.title, list(summary.tags))

    @on(ThreadList.Selected)
    def open_selected(self, event: ThreadList.Selected) -> None:
        from tablespace.tui.thread_screen import ThreadScreen

        self.app.push_screen(ThreadScreen(event.thread_id))

    def action_next_unread(self) -> None:
        index = self.thread_list.index_of_next_unread()
        if index is None:
            self.notify("You're all caught up.", title="No unread threads")
        else:
            self.thread_list.cursor = index

    def action_new_thread(self) -> None:
        from tablespace.tui.modals import ComposeModal

        room = self.room

        def post(draft: Draft) -> Job[str]:
            title, body, tags = draft.title or "", draft.body, draft.tags or ()
            if room.peer is not None:  # a conversation is one thread: the message goes into it
                peer = room.peer
                return self.write_job(
                    "sending",
                    lambda g: actions.dm(g, peer, body),
                    then=lambda thread: self.call_after_refresh(self.thread_list.select_id, thread),
                )
            return self.write_job(
                "posting",
                lambda g: actions.post(g, title, body, tags, circle=room.circle),
                then=lambda new_id: self.call_after_refresh(self.thread_list.select_id, new_id),
            )

        names = roster_names(self.group, room.circle)
        if room.peer is not None:
            self.app.push_screen(ComposeModal(f"New message to {room.label}", post, names=names, submit_label="Send"))
            return
        heading = "New thread" if room.circle is None else f"New thread in {room.label}"
        self.app.push_screen(ComposeModal(heading, post, title="", tags=[], names=names))

    def action_new_circle(self) -> None:
        """The circle form; the new circle's room once it is made (`circle add`)."""
        from tablespace.tui.circles import CircleDraft, CircleForm, others

        def make(draft: CircleDraft) -> Job[str]:
            return self.write_job(
                f"making {draft.name.strip() or 'the circle'}",
                lambda g: actions.circle_add(g, draft.name, draft.members, draft.purpose, draft.ends),
                success=f"Made {draft.name.strip()}: only its members read it.",
                then=lambda circle: self.call_after_refresh(self.show_circle, circle),
            )

        self.app.push_screen(CircleForm(others(self.group.conn, self.group.me), make))

    def action_circle_invite(self) -> None:
        """Let a member of the group into this circle (`circle invite`)."""
        from tablespace.tui.circles import InviteForm, others

        room = self.room
        if room.circle is None or room.dm:
            return
        circle = room.circle
        inside = circle_queries.circle_member_ids(self.group.conn, circle)

        def invite(member: str) -> Job[None]:
            name = visible(member_queries.member_names(self.group.conn).get(member, member[:8]))
            return self.write_job(
                f"letting {name} in",
                lambda g: actions.circle_invite(g, circle, member),
                success=f"{name} is in {room.label}.",
            )

        people = others(self.group.conn, self.group.me, inside)
        self.app.push_screen(InviteForm(room.label, room.members, people, invite))

    def action_circle_leave(self) -> None:
        """Leave this circle, once confirmed (`circle leave`): what is written
        there afterwards is not for us, so back to the group's room."""
        from tablespace.tui.modals import ConfirmModal

        room = self.room
        if room.circle is None or room.dm:
            return
        circle = room.circle

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.act(
                    f"leaving {room.label}",
                    lambda g: actions.circle_leave(g, circle),
                    success=f"You left {room.label}.",
                )

        question = (
            f"Leave {room.label}? You read nothing written there afterwards, unless someone in it invites you back."
        )
        self.app.push_screen(ConfirmModal(question, yes="Leave"), done)


async def threads_section(app: App[Any]) -> ThreadsScreen | None:
    """The Threads section's own screen, shown (a thread open there closes)."""
    from tablespace.tui.thread_screen import ThreadScreen

    await app.switch_mode("threads")
    while isinstance(app.screen, ThreadScreen):
        await app.pop_screen()
    return app.screen if isinstance(app.screen, ThreadsScreen) else None


async def land_in_room(app: App[Any], circle: str) -> None:
    """The Threads section, at the room of `circle`."""
    screen = await threads_section(app)
    if screen is not None:
        screen.show_circle(circle)
