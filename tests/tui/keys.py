"""Typing into the app the way people do, for the Pilot tests."""

from __future__ import annotations

from textual import events


async def burst(pilot, *keys: str) -> None:
    """Keys sent in one go, as a fast typist or a paste does: nothing is
    processed between them (Pilot's `press` waits for the app after each)."""
    app = pilot.app
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
    await pilot.pause()
    # Keys held for a screen still opening are typed again when it is ready
    # (TablespaceApp._hold_key): until then the burst is not over, however
    # long a loaded machine takes to mount it.
    while app._retyping is not None:
        await pilot.pause(0.02)


async def jobs_done(pilot) -> None:  # noqa: ANN001 - a textual Pilot
    """Until the actions running on workers (tui/jobs.py) have reported back and been handled."""
    app = pilot.app
    await pilot.pause()
    await app.workers.wait_for_complete([w for w in app.workers if w.group == "jobs"])
    await pilot.pause()
    await pilot.pause()
