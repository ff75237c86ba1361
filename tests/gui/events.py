"""Waiting for core events (psygnal) in GUI tests, like qtbot.waitSignal does for Qt signals.
The window's core objects emit on the GUI thread (app/ui/dispatch.py), so waiting means letting
Qt's event loop run until the event came."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class EventBlocker:
    def __init__(self) -> None:
        self.args: list[Any] = []
        self.received = False


@contextmanager
def wait_event(qtbot: Any, event: Any, timeout: int = 5_000) -> Iterator[EventBlocker]:
    """`with wait_event(qtbot, window.session.answer_finished, 60_000) as blocker: ...`: the
    block runs, then the test waits for the event's first emission after the block began."""
    blocker = EventBlocker()

    def received(*args: Any) -> None:
        if not blocker.received:
            blocker.args = list(args)
            blocker.received = True

    event.connect(received)
    try:
        yield blocker
        qtbot.waitUntil(lambda: blocker.received, timeout=timeout)
    finally:
        event.disconnect(received)
