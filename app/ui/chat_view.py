"""The conversation: one widget per message in a scroll area, and the composer below it.

While an answer streams, only the last message's text changes, ~30 times a second at most
(the engine batches tokens), so the GUI thread stays free however fast the model is.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.store import STATUS_COMPLETE, Message
from app.core.i18n import number, translate
from app.ui.message_widget import MessageWidget

VersionsFor = Callable[[Message], tuple[int, int]]

# Widgets are made for the newest messages only; older ones on request. A conversation of
# 1,000 messages opens as fast as one of 40.
PAGE_SIZE = 40


class ChatView(QScrollArea):
    editSubmitted = Signal(object, str)
    regenerateRequested = Signal(object)
    versionRequested = Signal(object, int)
    linkActivated = Signal(object, QUrl)
    startRequested = Signal()  # "Get the recommended model" in the empty chat

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
        self.earlier_button = QPushButton()
        self.earlier_button.setObjectName("earlierButton")
        self.earlier_button.clicked.connect(self.show_earlier)
        self.earlier_button.hide()
        self._layout.addWidget(self.earlier_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self.empty_label = QLabel()
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self._layout.addWidget(self.empty_label)
        # A newcomer has no model file: one click gets the one that suits this computer.
        self.start_button = QPushButton(translate("chat_view", "Get the recommended model for this computer"))
        self.start_button.setObjectName("recommendButton")  # the primary look of Discover's own
        self.start_button.clicked.connect(self.startRequested)
        self.start_button.hide()
        self._layout.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignHCenter)
        # Between the messages the model no longer sees (too old for its context) and the rest.
        self.memory_divider = QLabel(translate("chat_view", "Earlier messages are beyond the model's memory"))
        self.memory_divider.setObjectName("memoryDivider")
        self.memory_divider.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.memory_divider.hide()
        self._layout.addWidget(self.memory_divider)
        self._layout.addStretch(1)
        self.setWidget(container)
        self._forgotten: set[int] = set()
        self.widgets: list[MessageWidget] = []
        self._messages: list[Message] = []
        self._first_rendered = 0
        self._versions_for: VersionsFor | None = None
        # Adds extras under a message when its widget is made (e.g. the sources of an answer).
        self.decorate: Callable[[MessageWidget], None] | None = None
        self._follow = True
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    def set_empty_text(self, text: str, offer_start: bool = False) -> None:
        """What an empty chat says; offer_start: also the newcomer's one-click way to a model."""
        self.empty_label.setText(text)
        self.empty_label.setVisible(not self.widgets)
        self.start_button.setVisible(offer_start and not self.widgets)

    def clear(self) -> None:
        for widget in self.widgets:
            # Out of the layout and hidden now; deleteLater only frees it at the next loop turn.
            self._layout.removeWidget(widget)
            widget.hide()
            widget.deleteLater()
        self.widgets.clear()
        self._forgotten = set()
        self.memory_divider.hide()
        self._messages = []
        self._first_rendered = 0
        self.earlier_button.hide()
        self.empty_label.setVisible(True)

    def set_messages(self, messages: list[Message], versions_for: VersionsFor | None = None) -> None:
        self.clear()
        self._versions_for = versions_for
        self._messages = list(messages)
        self._first_rendered = max(0, len(messages) - PAGE_SIZE)
        for message in self._messages[self._first_rendered :]:
            self._append_widget(message)
        self._update_earlier_button()
        self._follow = True
        QTimer.singleShot(0, self.scroll_to_bottom)

    def show_earlier(self) -> None:
        """Render the previous page of messages above the ones shown, keeping the view still."""
        start = max(0, self._first_rendered - PAGE_SIZE)
        bar = self.verticalScrollBar()
        distance_from_bottom = bar.maximum() - bar.value()
        new_widgets = [self._make_widget(m) for m in self._messages[start : self._first_rendered]]
        for offset, widget in enumerate(new_widgets):
            self._layout.insertWidget(1 + offset, widget)  # after the "earlier" button
        self.widgets[0:0] = new_widgets
        self._first_rendered = start
        self._update_earlier_button()
        self._place_memory_divider()
        self._follow = False
        QTimer.singleShot(0, lambda: bar.setValue(bar.maximum() - distance_from_bottom))

    def _update_earlier_button(self) -> None:
        hidden = self._first_rendered
        self.earlier_button.setVisible(hidden > 0)
        page = min(hidden, PAGE_SIZE)
        self.earlier_button.setText(
            translate("chat_view", "Show %n earlier messages ({hidden} not shown)", None, page).format(
                hidden=number(hidden)
            )
        )

    def _make_widget(self, message: Message) -> MessageWidget:
        versions = self._versions_for(message) if self._versions_for else (1, 1)
        widget = MessageWidget(message, versions)
        widget.editSubmitted.connect(self.editSubmitted)
        widget.regenerateRequested.connect(self.regenerateRequested)
        widget.versionRequested.connect(self.versionRequested)
        widget.linkActivated.connect(self.linkActivated)
        widget.editingStarted.connect(self._show_editor)
        if self.decorate is not None:
            self.decorate(widget)
        if message.id in self._forgotten:
            widget.set_forgotten(True)
        return widget

    def _show_editor(self, widget: MessageWidget) -> None:
        """An editor that opens above the visible part of the chat is scrolled into view (once
        the layout has made room for it)."""
        QTimer.singleShot(0, lambda: self.ensureWidgetVisible(widget, 0, 40))

    def set_forgotten(self, message_ids: set[int]) -> None:
        """Mark the messages left out of the model's context, and put the divider after them."""
        self._forgotten = set(message_ids)
        for widget in self.widgets:
            widget.set_forgotten(widget.message.id in self._forgotten)
        self._place_memory_divider()

    def _place_memory_divider(self) -> None:
        layout = self._layout
        layout.removeWidget(self.memory_divider)
        if not self._forgotten or not self.widgets:
            self.memory_divider.hide()
            return
        last = max((i for i, w in enumerate(self.widgets) if w.message.id in self._forgotten), default=-1)
        if last + 1 >= len(self.widgets):
            self.memory_divider.hide()  # nothing on screen is remembered (e.g. while building)
            return
        layout.insertWidget(layout.indexOf(self.widgets[last + 1]), self.memory_divider)
        self.memory_divider.show()

    def _append_widget(self, message: Message) -> MessageWidget:
        widget = self._make_widget(message)
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self.widgets.append(widget)
        self.empty_label.setVisible(False)
        self.start_button.setVisible(False)
        return widget

    def warm_up(self) -> None:
        """Build one message widget and throw it away, at an idle moment after start-up: the
        first one of a process costs ~30 ms more than the next (PySide6 creates the Python
        enums of the text widgets on first use), and that came with the user's first question
        (bench_gui_stall.py)."""
        if self.widgets:
            return  # a conversation on screen paid it already
        probe = MessageWidget(Message(-1, -1, "assistant", "warm", STATUS_COMPLETE, 0.0), (1, 1))
        probe.deleteLater()

    def add_message(self, message: Message) -> MessageWidget:
        self._messages.append(message)
        widget = self._append_widget(message)
        self._follow = True
        return widget

    def set_actions_enabled(self, enabled: bool) -> None:
        for widget in self.widgets:
            widget.set_actions_enabled(enabled)

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


NARROW_COMPOSER_PX = 560  # below this, the tools and Send go under the question box: it keeps its room


class Composer(QFrame):
    """Where the user types. Enter sends, Shift+Enter makes a new line; Send turns into Stop."""

    submitted = Signal(str)
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 8, 12, 12)
        outer.setSpacing(6)
        layout = QHBoxLayout()
        outer.addLayout(layout)
        self._row = layout
        self._under_row = QHBoxLayout()  # a narrow window: the tools and Send under the text
        self._under_row.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(self._under_row)
        self.edit = ComposerEdit()
        self.edit.setObjectName("composerEdit")
        self.edit.setAccessibleName(translate("chat_view", "Your question"))
        self.edit.setAccessibleDescription(
            translate(
                "chat_view", "Type a question for the model; Enter sends it, Shift+Enter starts a new line."
            )
        )
        self.edit.setPlaceholderText(
            translate("chat_view", "Ask anything — Enter to send, Shift+Enter for a new line")
        )
        self.edit.setFixedHeight(84)
        self.edit.setTabChangesFocus(True)  # Tab moves on to Send, as in any form
        self.edit.submitted.connect(self._submit)
        # Small controls left of the text (e.g. the documents picker), above it when narrow.
        self.tools_box = QWidget()
        self.tools_box.setObjectName("composerTools")
        self.tools = QVBoxLayout(self.tools_box)
        self.tools.setContentsMargins(0, 0, 0, 0)
        self.narrow = False
        layout.addWidget(self.tools_box)
        layout.addWidget(self.edit, 1)
        self.send_button = QPushButton(translate("chat_view", "Send"))
        self.send_button.setObjectName("sendButton")
        self.send_button.setMinimumWidth(90)
        self.send_button.clicked.connect(self._on_button)
        layout.addWidget(self.send_button)
        self._generating = False
        self._can_send = False
        self._cannot_send_reason = ""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """As narrow as the layout with the tools above the text: a small window can get there
        (wide, the tools sit beside the text, and there is room for them)."""
        hint = super().minimumSizeHint()
        if self.narrow:
            return hint
        margins = self.contentsMargins().left() + self.contentsMargins().right() + 24
        under = self.tools_box.minimumSizeHint().width() + self.send_button.minimumSizeHint().width() + 6
        narrow = margins + max(self.edit.minimumSizeHint().width(), under)
        return QSize(min(hint.width(), narrow), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._place_tools(event.size().width() < NARROW_COMPOSER_PX)

    def _place_tools(self, narrow: bool) -> None:
        if narrow == self.narrow:
            return
        self.narrow = narrow
        for widget in (self.tools_box, self.send_button):
            (self._row if narrow else self._under_row).removeWidget(widget)
        if narrow:
            self._under_row.addWidget(self.tools_box)
            self._under_row.addStretch(1)
            self._under_row.addWidget(self.send_button)
        else:
            while self._under_row.count():
                self._under_row.takeAt(0)  # the stretch
            self._row.insertWidget(0, self.tools_box)
            self._row.addWidget(self.send_button)

    def set_can_send(self, can_send: bool, reason: str = "") -> None:
        self._can_send = can_send
        self._cannot_send_reason = reason
        self._update_button()

    def set_generating(self, generating: bool) -> None:
        self._generating = generating
        self._update_button()

    @property
    def generating(self) -> bool:
        return self._generating

    def _update_button(self) -> None:
        self.send_button.setText(
            translate("chat_view", "Stop") if self._generating else translate("chat_view", "Send")
        )
        self.send_button.setEnabled(self._generating or self._can_send)
        if self._generating:  # Esc stops it too (the window's shortcut): the tooltip says so
            self.send_button.setToolTip(translate("chat_view", "Stop the answer (Esc)"))
        else:
            self.send_button.setToolTip("" if self._can_send else self._cannot_send_reason)

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
