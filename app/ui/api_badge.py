"""A small label that says when other programs use the model through the local API:
"API: 1 answering, 3 waiting". Hidden while no API request runs or waits.

Why it exists: while a program's request holds the engine, the person's own question waits a
moment (it goes first, but not before the running answer ends); the badge tells them why.
The engine queue announces `activity` from its worker thread; a Qt signal with a queued
connection carries it to the GUI thread, where the label changes.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QWidget

from app.core.i18n import translate
from app.ui.observe import observe

log = logging.getLogger("enclave.ui.api_badge")


def badge_text(running: int, waiting: int) -> str:
    """The words for the counts ("" when idle)."""
    parts = []
    if running:
        parts.append(translate("api_badge", "%n answering", None, running))
    if waiting:
        parts.append(translate("api_badge", "%n waiting", None, waiting))
    return translate("api_badge", "API: {activity}").format(activity=", ".join(parts)) if parts else ""


class ApiBadge(QLabel):
    _activity = Signal(int, int)  # emitted on any thread, delivered on the GUI thread

    def __init__(self, queue: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("apiBadge")
        self.setToolTip(translate("api_badge", "Other programs are using the model through Enclave's API."))
        self._queue = queue
        self._activity.connect(self._show_counts, Qt.ConnectionType.QueuedConnection)
        observe(queue.activity, self, self._from_queue)  # called on the queue's worker thread
        running, waiting = queue.api_counts
        self._show_counts(running, waiting)

    def _from_queue(self, running: int, waiting: int) -> None:
        """Called on the engine queue's thread: only hand over, never touch the widget here."""
        try:
            self._activity.emit(running, waiting)
        except RuntimeError:  # the label is gone (window closing)
            pass

    def _show_counts(self, running: int, waiting: int) -> None:
        text = badge_text(running, waiting)
        self.setText(text)
        self.setVisible(bool(text))
