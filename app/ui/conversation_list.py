"""The sidebar: conversations, newest first, and a New chat button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from app.core.chat.store import Conversation


class ConversationList(QFrame):
    conversationSelected = Signal(int)
    newChatRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.new_button = QPushButton("+  New chat")
        self.new_button.setObjectName("newChatButton")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.newChatRequested)
        layout.addWidget(self.new_button)
        self.list = QListWidget()
        self.list.setObjectName("conversationList")
        self.list.currentItemChanged.connect(self._on_current)
        layout.addWidget(self.list, 1)
        self._updating = False

    def set_conversations(self, conversations: list[Conversation], current_id: int | None) -> None:
        self._updating = True
        self.list.clear()
        for conversation in conversations:
            item = QListWidgetItem(conversation.title or "New chat")
            item.setData(Qt.ItemDataRole.UserRole, conversation.id)
            item.setToolTip(conversation.title)
            self.list.addItem(item)
            if conversation.id == current_id:
                self.list.setCurrentItem(item)
        self._updating = False

    def _on_current(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None and not self._updating:
            self.conversationSelected.emit(int(item.data(Qt.ItemDataRole.UserRole)))
