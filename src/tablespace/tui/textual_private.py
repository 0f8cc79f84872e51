"""The only places the app uses Textual's private API, each unavoidable for
the reason given beside it. tests/tui/test_textual_private.py fails if a
Textual release changes any of them."""

from __future__ import annotations

from textual.app import App
from textual.notifications import Notification
from textual.screen import Screen
from textual.widgets._footer import FooterKey  # the footer's key widget: textual.widgets does not export it

__all__ = [
    "COMPACT_CLASS",
    "FooterKey",
    "apply_ansi_colors",
    "mark_styled_as_current",
    "style_stamp",
    "shown_notifications",
    "withdraw_notification",
]

# The class FooterKey's `compact` watcher adds; KeyFooter gives it up front so
# the footer is styled once instead of once per key.
COMPACT_CLASS = "-compact"


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
