"""The app as a daily tool: the reader's place, who and when, line breaks, toasts."""

from __future__ import annotations

from textual import events
from textual.widgets import Input, OptionList
from textual.widgets._markdown import MarkdownParagraph
from textual.widgets._toast import Toast

from tablespace import actions
from tablespace.core.group import Group
from tablespace.tui.app import TablespaceApp
from tablespace.tui.chrome import KeyFooter
from tablespace.tui.modals import ComposeModal, SearchModal
from tablespace.tui.screens import ThreadsScreen
from tablespace.tui.thread_list import PAGE_SIZE, ThreadList
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import refusal_line, screen_text, wait_for

SIZE = (100, 32)


async def open_by_title(pilot, app, title: str) -> ThreadScreen:
    thread_list = app.screen.query_one(ThreadList)
    thread_list.cursor = [thread_list.row(i).title for i in range(thread_list.count)].index(title)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ThreadScreen)
    return app.screen


async def test_back_from_a_thread_the_cursor_is_on_it_though_the_list_moved(kitchen):
    # Far enough down that its page of the list is not the first one.
    older = Group.open(kitchen.home)
    for n in range(PAGE_SIZE):
        actions.post(older, f"Older {n}", "Old.", [])
    older.close()
    app = TablespaceApp(Group.open(kitchen.home), sync=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_by_title(pilot, app, "Hydration for a first loaf?")
        for n in range(3):  # others write while we read: the list moves under the thread
            other = Group.open(kitchen.home)
            actions.post(other, f"News {n}", "Fresh.", [])
            other.close()
            app.refresh_all()
            await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ThreadsScreen)
        assert app.screen.thread_list.current.id == kitchen.ids["hydration"]
    app.group.close()


async def test_escape_after_a_search_jump_goes_back_where_the_search_started(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "slash", *"warm")
        modal = app.screen
        assert isinstance(modal, SearchModal)
        await wait_for(pilot, lambda: bool(modal.hits))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen))
        assert app.screen.thread_id == kitchen.ids["nail"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "library"


async def test_my_reactions_say_so_and_taking_one_back_says_it(app, group, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_by_title(pilot, app, "Rye starter feeding schedule")
        await pilot.press("plus", "8")
        await jobs_done(pilot)
        assert str(app.screen.query_one(".post-reactions").render()) == "🍞 you"
        await pilot.press("plus", "8")
        await jobs_done(pilot)
        await pilot.pause()
        assert [n.message for n in app._notifications] == ["Took back your 🍞."]


async def test_a_single_line_break_stays_in_the_post_and_the_preview(app, kitchen):
    writer = Group.open(kitchen.home)
    actions.reply(writer, kitchen.ids["rye"], "Feed at night.\nBake in the morning.")
    writer.close()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_by_title(pilot, app, "Rye starter feeding schedule")
        await wait_for(pilot, lambda: len(screen.cards) == 2)
        await pilot.pause()
        lines = screen_text(app).splitlines()
        at = next(n for n, line in enumerate(lines) if "Feed at night." in line)
        assert "Feed at night.  " in lines[at] and "Bake in the morning." in lines[at + 1]
        await pilot.press("r", *"one", "enter")
        await pilot.press(*"two", "ctrl+t")
        await pilot.pause()
        preview = app.screen.query_one("#preview").query_one(MarkdownParagraph)
        assert str(preview.render()) == "one\ntwo"


async def test_search_results_say_who_and_when_in_plain_text(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"dead")
        modal = app.screen
        await wait_for(pilot, lambda: bool(modal.hits))
        prompt = modal.query_one("#results", OptionList).get_option_at_index(0).prompt
        assert prompt.plain == "💬 My starter smells like nail polish\n   Ana · 23 hours ago · Is it dead?"
        assert [prompt.plain[span.start : span.end] for span in prompt.spans if "reverse" in str(span.style)] == [
            "dead"
        ]


async def test_palette_names_are_unique_and_escape_closes_its_keys_panel(app):
    from tablespace.tui.commands import TablespaceCommands

    async with app.run_test(size=SIZE) as pilot:
        ours = [title for title, _, _ in TablespaceCommands(app.screen).commands()]
        textual = [command.title for command in app.get_system_commands(app.screen)]
        names = ours + textual
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
        app.action_show_help_panel()
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")
        assert isinstance(app.screen, ThreadsScreen)


NARROW = (80, 24)


async def test_at_80_columns_the_count_and_the_palette_hint_stay(app):
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert "5 threads" in lines[1]
        assert "^p palette" in lines[-1]


async def test_at_80_columns_dialog_hints_stay_whole(app):
    async with app.run_test(size=NARROW) as pilot:
        await open_by_title(pilot, app, "Rye starter feeding schedule")
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        assert "config.json" in text.replace("\n", "").replace("│", "").replace(" ", "")
        assert str(app.home.config_path.parent.name) in text and "esc close" in text
        await pilot.press("escape", "r")
        await pilot.pause()
        hint = app.screen.query_one("#compose-hint")
        assert hint.region.height == 1
        assert "ctrl+s reply · ctrl+t preview · ctrl+o $EDITOR · esc cancel" in screen_text(app)


def toasts(app) -> list[str]:  # noqa: ANN001
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_a_refusal_is_said_inside_the_form_and_keeps_what_was_typed(app):
    """At 80x24 a toast sits over a form's top border, title and first field:
    a form says why it did not act on a line of its own, above its keys."""
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await pilot.press("3", "a", "ctrl+s")  # the title left empty
        await jobs_done(pilot)
        form = app.screen
        assert refusal_line(app) == "✗ Not added: title is empty" and not toasts(app)
        assert "Add to the library" in screen_text(app)  # nothing covers its title
        await pilot.press(*"Crumb atlas", "tab", *"not a link", "ctrl+s")
        await jobs_done(pilot)
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is form and "Not added" in refusal_line(app) and not toasts(app)
        assert form.query_one("#title", Input).value == "Crumb atlas"  # what was typed stays
        assert screen_text(app).count("Not added") == 1  # said once, not twice
        form.query_one("#url", Input).value = "https://example.org/crumb"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is not form and not [t for t in toasts(app) if "Not added" in t]


async def test_a_refusal_in_every_kind_of_form_is_a_line_inside_it(app):
    """An event form (an AskForm) and a reply (the compose form) alike."""
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await pilot.press("2", "a", "ctrl+s")
        await pilot.pause()
        assert refusal_line(app) == "✗ give the event a title" and not toasts(app)
        await pilot.press(*"Meetup", "tab", *"someday", "ctrl+s")
        await jobs_done(pilot)
        assert refusal_line(app).startswith("✗ Not added: ") and not toasts(app)
        hint = app.screen.query_one(".dialog-hint").region
        assert app.screen.query_one("#refusal").region.bottom == hint.y  # right above the keys
        await pilot.press("escape", "1", "enter", "r", "ctrl+s")
        await jobs_done(pilot)
        assert refusal_line(app).startswith("✗ Not posted: ") and not toasts(app)


async def test_toasts_at_80x24_stay_off_a_dialogs_keys_and_the_footer(app):
    """A toast raised while a form is open (a sync's news, a warning) sits
    at the top right, off the form's key hint at the bottom and the footer."""
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        app.notify("Something happened.", severity="warning")
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)))
        footer = app.screen.query_one(KeyFooter).region
        assert all(not toast.region.overlaps(footer) for toast in app.screen.query(Toast))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeModal))
        app.notify("Not synced: the folder is not there.", severity="warning")
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)))
        await pilot.pause()
        keys = app.screen.query_one("#compose-hint").region
        for toast in app.screen.query(Toast):
            assert not toast.region.overlaps(keys)


async def test_first_run_form_speaks_app_words_and_keeps_a_burst_of_tabs(tmp_path, monkeypatch):
    from textual.widgets import Static

    from tablespace.core.home import Home
    from tablespace.tui.setup import SetupScreen

    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    app = TablespaceApp(None, Home(tmp_path / "home"), sync=False)
    async with app.run_test(size=NARROW) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        # typed in one burst, as a fast typist (or tmux) sends them: every key
        # is queued before the first is handled, where pilot.press would wait
        for key in [*"Bread", "tab", *"Ana", "tab", *"Loaves", "tab", *"/nowhere", "tab", *"git@x:y"]:
            character = "\t" if key == "tab" else key
            app.post_message(events.Key(key, character))
        await pilot.pause()
        await pilot.pause()
        values = {i.id: i.value for i in screen.query(Input)}
        assert (values["found-name"], values["found-display"], values["found-purpose"]) == ("Bread", "Ana", "Loaves")
        assert (values["found-folder"], values["found-git"]) == ("/nowhere", "git@x:y")
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        error = str(screen.query_one("#setup-error", Static).render())
        assert "--" not in error and "shared folder or a git remote" in error


async def test_at_80_columns_every_footer_keeps_the_keys_and_the_palette_hint(app):
    """A screen with many keys leaves some out of a narrow footer, the app's
    first, but never `? Keys` and the palette hint: they lead to the rest."""
    async with app.run_test(size=NARROW) as pilot:
        footers = {}
        for key in "1234567":
            await pilot.press(key)
            await pilot.pause(0.3)
            footers[key] = screen_text(app).splitlines()[-1]
        await pilot.press("1", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen))
        await pilot.pause(0.3)
        footers["thread"] = screen_text(app).splitlines()[-1]
    for where, footer in footers.items():
        assert "? Keys" in footer and "^p palette" in footer, (where, footer)
    assert "r Reply" in footers["thread"] and "d Delete" in footers["thread"]  # the thread's own keys stay


async def test_a_dialog_opened_after_a_toast_is_not_covered_by_it(app, kitchen):
    """'Deleted.' said what was done; the person has moved on to a dialog,
    whose border and first lines the toast would cover at 80x24."""
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await open_by_title(pilot, app, "My starter smells like nail polish")
        await pilot.press("j", "d", "y")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: any("Deleted." in t for t in toasts(app)))
        await pilot.press("question_mark")
        await pilot.pause()
        assert not any("Deleted." in t for t in toasts(app))
        assert not app.screen.query(Toast)
        await pilot.press("escape")
        app.notify("Synced: 1 new post.")  # news while the dialog is closed shows as before
        await wait_for(pilot, lambda: bool(app.screen.query(Toast)))


async def test_at_80_columns_every_section_s_info_is_whole(app):
    """The section bar's info (a count, what a key does) is said whole at
    80 columns, in fewer words if need be, never cut mid-word."""
    async with app.run_test(size=NARROW) as pilot:
        said = {
            "2": "1 ritual",
            "3": "2 resources",
            "4": "1 active of 1",
            "5": "up to 02 Mar 09:00",
            "6": "0 open · 0 to join",
            "7": "nothing unread",
            "1": "5 threads",
        }
        for key, info in said.items():
            await pilot.press(key)
            await pilot.pause()
            bar = screen_text(app).splitlines()[1]
            assert "…" not in bar and info in bar, (key, bar)
