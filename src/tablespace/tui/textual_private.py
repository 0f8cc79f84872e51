"""The only places the app uses Textual's private API, each unavoidable for
the reason given beside it. tests/tui/test_textual_private.py fails if a
Textual release changes any of them."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.geometry import Size
from textual.notifications import Notification
from textual.screen import Screen

__all__ = [
    "apply_ansi_colors",
    "changed_off_screen",
    "make_mode_screen",
    "mark_styled_as_current",
    "mode_is_made",
    "lay_out_off_screen",
    "render_off_screen",
    "style_stamp",
    "shown_notifications",
    "withdraw_notification",
]


def apply_ansi_colors(app: App[object]) -> None:
    """Map ANSI colours to the current theme's, as App._watch_theme does: the
    app sets its theme before the first CSS parse without running that
    watcher, and Textual has no public call for this one step."""
    app._refresh_truecolor_filter(app.ansi_theme)


def shown_notifications(app: App[object]) -> list[Notification]:
    """The toasts on screen now: Textual keeps them private, and a toast
    that says again what one on screen says replaces it instead of piling up."""
    return list(app._notifications)


def withdraw_notification(app: App[object], notification: Notification) -> None:
    """Take a toast down before its time (a form's "Needed" once it is saved):
    Textual has no public call for one toast, only for all of them."""
    if notification in app._notifications:
        app._unnotify(notification)


def mark_styled_as_current(app: App[object], screen: Screen[object]) -> None:
    """Tell Textual a screen just made needs no CSS refresh: its widgets are
    styled with the current rules as they mount. A new screen's CSS count
    starts stale, so Textual re-parses every rule and restyles the screen in
    view (twice) when a mode's screen is first shown; a theme change since
    still bumps the app's count and refreshes it as before."""
    screen._css_update_count = app._css_update_count


def style_stamp(app: App[object]) -> tuple[object, ...]:
    """What a screen's styles depend on beyond its own widgets: the app's
    CSS (its update count, bumped by every theme or stylesheet change), its
    classes and whether it has the focus. Textual restyles a whole screen
    every time it is shown (twice the first time), whether or not any of
    this changed while it was hidden; its count is private."""
    return app._css_update_count, frozenset(app.classes), app.app_focus


def mode_is_made(app: App[Any], mode: str) -> bool:
    """Whether the screen of a mode exists yet: Textual makes it on the
    first switch to the mode and keeps its stack in a private map."""
    return mode in app._screen_stacks


def make_mode_screen(app: App[Any], mode: str) -> Screen[Any]:
    """Make and mount a mode's screen without showing it, as the first switch
    to the mode would (Textual's own step for that, which posts the screen its
    resume: it reads what it shows). Textual has no public call to build a
    mode ahead of its first switch."""
    app._init_mode(mode)
    return app._screen_stacks[mode][0]


def lay_out_off_screen(screen: Screen[object], size: Size) -> None:
    """Lay out a screen that is not shown, for `size`: its widgets get their
    sizes (and their Resize events) before it is first shown. Textual lays
    out only the screen in view, on a private timer."""
    if not screen.is_current and screen.is_attached:
        screen._refresh_layout(size)
        screen._layout_required = False  # as Textual's timer does after its layout


def render_off_screen(screen: Screen[object]) -> None:
    """Render every line of a screen that is not shown, once: its first show
    finds each widget's lines made. The update it returns is not displayed."""
    if not screen.is_current and screen.is_attached:
        screen._compositor.update_widgets(screen._dirty_widgets)
        screen._compositor.render_update(full=True)
        screen._dirty_widgets.clear()  # as Textual's timer does after its render
        screen._repaint_required = False


def changed_off_screen(screen: Screen[object]) -> bool:
    """Whether a screen not shown asked for a layout or a repaint since it
    was last laid out and rendered off screen. Its widgets ask through
    messages the screen keeps as private flags (its timer acts on them only
    while it is shown; showing it lays it out and repaints it anyway)."""
    return bool(screen._layout_required or screen._repaint_required or screen._dirty_widgets)
