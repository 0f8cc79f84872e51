"""Waiting for the app to get somewhere, for the Pilot tests: poll a
condition with a deadline instead of pausing a fixed time, so a loaded
machine is slower but never wrong."""

from __future__ import annotations

import time
from collections.abc import Callable


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Let the app run until `condition` holds; return how long that took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout} s")
        await pilot.pause(0.02)
    return time.monotonic() - start


def screen_text(app) -> str:  # noqa: ANN001
    """The screen as the terminal shows it, one line a row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def refusal_line(app) -> str:  # noqa: ANN001
    """What the form in view says on its refusal line (tui/modals.py FormModal.say), or ""."""
    found = app.screen.query("#refusal")
    return str(found.first().render()) if found and found.first().display else ""
