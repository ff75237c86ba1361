"""A cancel token that core work checks between steps; the UI (or Ctrl+C) sets it."""

from __future__ import annotations

import threading

from app.core.i18n import translate


class Cancelled(Exception):
    """Raised by work that noticed its token was cancelled."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(translate("cancel", "Cancelled.") if message is None else message)


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
