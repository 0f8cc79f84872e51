"""What the app takes from Textual's private API (tui/textual_private.py) is
still there, and nothing else in the app reaches for it."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import textual
from textual.app import App

import tablespace.tui

TUI = Path(tablespace.tui.__file__).parent
PYPROJECT = Path(tablespace.tui.__file__).parents[3] / "pyproject.toml"


def test_textual_is_the_pinned_release() -> None:
    pinned = re.search(r'"textual==([^"]+)"', PYPROJECT.read_text(encoding="utf-8"))
    assert pinned is not None and textual.__version__ == pinned.group(1)


def test_the_theme_watcher_still_maps_ansi_colors_the_way_the_app_copies() -> None:
    assert "_refresh_truecolor_filter(self.ansi_theme)" in inspect.getsource(App._watch_theme)
    assert callable(App._refresh_truecolor_filter)


def test_a_new_screen_is_still_css_refreshed_by_its_update_count() -> None:
    """mark_styled_as_current sets the count Textual compares when a mode's screen is first shown."""
    assert "screen._css_update_count != self._css_update_count" in inspect.getsource(App._init_mode)
    assert "self.screen._css_update_count != self._css_update_count" in inspect.getsource(App.switch_mode)


def test_only_textual_private_uses_private_textual_names() -> None:
    offenders = []
    for path in sorted(TUI.glob("*.py")):
        if path.name == "textual_private.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("textual")
                and any(part.startswith("_") for part in node.module.split("."))
            ):
                offenders.append(f"{path.name}: from {node.module}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in {"app", "screen", "widget", "event"}
            ):
                offenders.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr in {"app", "screen"}
                and node.attr.startswith("_")
            ):
                offenders.append(f"{path.name}:{node.lineno}: .{node.value.attr}.{node.attr}")
    assert offenders == []


def test_a_resumed_screen_is_still_restyled_only_when_its_event_asks() -> None:
    """style_stamp reads the app's update count; TablespaceScreen clears
    ScreenResume.refresh_styles before Screen's own handler reads it."""
    from textual.screen import Screen

    assert "if event.refresh_styles:" in inspect.getsource(Screen._on_screen_resume)
    assert "_css_update_count" in inspect.getsource(App.__init__)


def test_a_mode_screen_can_still_be_made_laid_out_and_rendered_off_screen() -> None:
    """make_mode_screen, lay_out_off_screen, render_off_screen and
    changed_off_screen copy what switch_mode and the screen's update timer do."""
    from textual.screen import Screen

    assert "self._init_mode(mode)" in inspect.getsource(App.switch_mode)
    assert "self._screen_stacks[mode] = stack" in inspect.getsource(App._init_mode)
    timer = inspect.getsource(Screen._on_timer_update)
    for step in (
        "self._refresh_layout(",
        "self._layout_required = False",
        "self._repaint_required",
        "self._compositor.update_widgets(self._dirty_widgets)",
    ):
        assert step in timer
    assert "self._dirty_widgets.clear()" in inspect.getsource(Screen._compositor_refresh)
    assert "render_update(" in inspect.getsource(Screen._compositor_refresh)
