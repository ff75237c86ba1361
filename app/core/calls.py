"""Where callbacks from worker threads run: the owner's thread.

Core objects with state (the chat session, the engine service) do their blocking work on the
engine queue's thread but change their state only on one thread, their owner's. They are given
a `call_soon(fn, *args)` that runs fn there later: the window passes one that posts to the Qt
GUI thread (app/ui/dispatch.py); tests and the CLI use `CallQueue`, pumped where they wait.
Their events are therefore emitted on the owner's thread, and observers need no locks.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, Protocol


class CallSoon(Protocol):
    def __call__(self, fn: Callable[..., Any], *args: Any) -> None: ...


class CallQueue:
    """A thread-safe queue of calls, run by whoever pumps it (a test, a CLI command)."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()

    def __call__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._calls.put((fn, args))

    def run_pending(self, timeout: float = 0.0) -> int:
        """Run what is queued (waiting up to `timeout` for the first call); returns how many."""
        count = 0
        try:
            fn, args = self._calls.get(timeout=timeout) if timeout > 0 else self._calls.get_nowait()
        except queue.Empty:
            return 0
        while True:
            fn(*args)
            count += 1
            try:
                fn, args = self._calls.get_nowait()
            except queue.Empty:
                return count

    def run_until(self, done: Callable[[], bool], timeout: float = 60.0) -> None:
        """Pump until done() is true; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("waited too long")
            self.run_pending(timeout=min(0.05, remaining))


def call_now(fn: Callable[..., Any], *args: Any) -> None:
    """A call_soon for single-threaded use: runs fn at once, on the calling thread."""
    fn(*args)
