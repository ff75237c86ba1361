"""A cancel token that core work checks between steps; the UI (or Ctrl+C) sets it."""

from __future__ import annotations

import threading


class Cancelled(Exception):
    """Raised by work that noticed its token was cancelled."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True at once if cancelled meanwhile."""
        return self._event.wait(timeout)
