"""The conversation: one widget per message in a scroll area, and the composer below it.

While an answer streams, only the last message's text changes, ~30 times a second at most
(the engine batches tokens), so the GUI thread stays free however fast the model is.
"""

from __future__ import annotations

from PySide6.QtCore import QSizeF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QTextBrowser,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.store import (
    STATUS_CANCELLED,
    STATUS_ERROR,
    STATUS_INTERRUPTED,
    STATUS_STREAMING,
    Message,
)

ROLE_TITLES = {"user": "You", "assistant": "Assistant", "system": "System"}


def stats_line(stats: dict[str, object]) -> str:
    """'120 tokens · 41.2 tokens/s · first token 72 ms · gemma-3-270m' from saved stats."""
    parts: list[str] = []
    tokens = stats.get("generated_tokens")
    if isinstance(tokens, int):
        parts.append(f"{tokens} tokens")
    rate = stats.get("tokens_per_s")
    if isinstance(rate, (int, float)) and rate > 0:
        parts.append(f"{rate:.1f} tokens/s")
    ttft = stats.get("time_to_first_token_s")
    if isinstance(ttft, (int, float)):
        parts.append(f"first token {ttft * 1000:.0f} ms")
    model = stats.get("model")
    if isinstance(model, str) and model:
        parts.append(model)
    return " · ".join(parts)


class MessageText(QTextBrowser):
    """Read-only rich text that is exactly as tall as its content (no inner scroll bar).

    Streaming appends go through a QTextCursor at the end: QTextDocument lays out only the last
    block again, where QLabel.setText would lay out the whole answer on every batch.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBody")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)
        self.document().setDocumentMargin(0)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("background: transparent;")
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height(self.document().size())

    def _fit_height(self, size: QSizeF) -> None:
        height = int(size.height() + 0.999) + 2
        if height != self.height():
            self.setFixedHeight(height)

    def append_plain(self, text: str) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)


class MessageWidget(QFrame):
    def __init__(self, message: Message, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.setObjectName("message")
        self.setProperty("role", message.role)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)
        self.role_label = QLabel(ROLE_TITLES.get(message.role, message.role))
        self.role_label.setObjectName("messageRole")
        layout.addWidget(self.role_label)
        self.body = MessageText()
        layout.addWidget(self.body)
        self.footer = QLabel()
        self.footer.setObjectName("messageFooter")
        layout.addWidget(self.footer)
        self._text = message.content
        self.refresh()

    @property
    def text(self) -> str:
        return self._text

    def append(self, text: str) -> None:
        # Plain text while streaming: cheap, and half-written Markdown would flicker.
        if not self._text:
            self.body.setPlainText("")
        self._text += text
        self.body.append_plain(text)

    def finish(self, status: str, stats: dict[str, object] | None = None) -> None:
        self.message.status = status
        self.message.content = self._text
        if stats is not None:
            self.message.stats = dict(stats)
        self.refresh()

    def refresh(self) -> None:
        status = self.message.status
        shown = self._text if self._text else ("…" if status == STATUS_STREAMING else "")
        if self.message.role == "assistant" and status != STATUS_STREAMING:
            self.body.setMarkdown(shown)
        else:
            self.body.setPlainText(shown)
        notes = {
            STATUS_INTERRUPTED: "Interrupted: the engine stopped before this answer was finished.",
            STATUS_CANCELLED: "Stopped.",
            STATUS_ERROR: "Failed.",
        }
        footer = stats_line(self.message.stats) if self.message.role == "assistant" else ""
        note = notes.get(status, "")
        self.footer.setText(" — ".join(x for x in (footer, note) if x))
        self.footer.setVisible(bool(self.footer.text()))


class ChatView(QScrollArea):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        container = QWidget()
        container.setObjectName("chatContainer")
        self._layout = QVBoxLayout(container)
        self._layout.setContentsMargins(16, 16, 16, 16)
        self._layout.setSpacing(10)
        self.empty_label = QLabel()
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self._layout.addWidget(self.empty_label)
        self._layout.addStretch(1)
        self.setWidget(container)
        self.widgets: list[MessageWidget] = []
        self._follow = True
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    def set_empty_text(self, text: str) -> None:
        self.empty_label.setText(text)
        self.empty_label.setVisible(not self.widgets)

    def clear(self) -> None:
        for widget in self.widgets:
            widget.deleteLater()
        self.widgets.clear()
        self.empty_label.setVisible(True)

    def set_messages(self, messages: list[Message]) -> None:
        self.clear()
        for message in messages:
            self.add_message(message)
        self._follow = True
        QTimer.singleShot(0, self.scroll_to_bottom)

    def add_message(self, message: Message) -> MessageWidget:
        widget = MessageWidget(message)
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self.widgets.append(widget)
        self.empty_label.setVisible(False)
        self._follow = True
        return widget

    def last(self) -> MessageWidget | None:
        return self.widgets[-1] if self.widgets else None

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        # Follow new text only while the user is at the bottom; reading above is not disturbed.
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)


class ComposerEdit(QPlainTextEdit):
    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt name)
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class Composer(QFrame):
    """Where the user types. Enter sends, Shift+Enter makes a new line; Send turns into Stop."""

    submitted = Signal(str)
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 12)
        self.edit = ComposerEdit()
        self.edit.setObjectName("composerEdit")
        self.edit.setPlaceholderText("Ask anything — Enter to send, Shift+Enter for a new line")
        self.edit.setFixedHeight(84)
        self.edit.submitted.connect(self._submit)
        layout.addWidget(self.edit, 1)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setMinimumWidth(90)
        self.send_button.clicked.connect(self._on_button)
        layout.addWidget(self.send_button)
        self._generating = False
        self._can_send = False

    def set_can_send(self, can_send: bool, reason: str = "") -> None:
        self._can_send = can_send
        self.send_button.setToolTip("" if can_send else reason)
        self._update_button()

    def set_generating(self, generating: bool) -> None:
        self._generating = generating
        self._update_button()

    @property
    def generating(self) -> bool:
        return self._generating

    def _update_button(self) -> None:
        self.send_button.setText("Stop" if self._generating else "Send")
        self.send_button.setEnabled(self._generating or self._can_send)

    def _on_button(self) -> None:
        if self._generating:
            self.stopRequested.emit()
        else:
            self._submit()

    def _submit(self) -> None:
        text = self.edit.toPlainText().strip()
        if not text or self._generating or not self._can_send:
            return
        self.edit.clear()
        self.submitted.emit(text)
