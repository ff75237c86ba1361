"""Which conversation the chat shows: the part of MainWindow that starts a new chat, opens one
from the sidebar, forgets a deleted one, and shows a thread with its answer versions. Split out
of main_window.py by job; MainWindow inherits it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core.chat.store import ChatStore
from app.ui.chat_view import ChatView, Composer
from app.ui.conversation_list import ConversationList
from app.ui.engine_bridge import EngineBridge
from app.ui.message_widget import MessageWidget

if TYPE_CHECKING:
    from app.ui.pages.collection_picker import CollectionPicker  # imported lazily by MainWindow

EMPTY_NO_MODEL = (
    "No model yet — click “Open model…” above, or drop a .gguf file on this window.\n"
    "Your conversations stay on this computer."
)
EMPTY_READY = "Ask a question below to start."


class ConversationsMixin:
    # Provided by MainWindow (declared here so the dependencies are explicit).
    store: ChatStore
    bridge: EngineBridge
    sidebar: ConversationList
    chat_view: ChatView
    composer: Composer
    collection_picker: CollectionPicker
    conversation_id: int | None
    pending_chat: dict[str, Any]
    streaming: MessageWidget | None

    if TYPE_CHECKING:  # from the other parts of MainWindow

        @staticmethod
        def _new_chat_defaults() -> dict[str, Any]: ...
        def _flush_chat_settings(self) -> None: ...
        def _bind_chat_settings(self) -> None: ...
        def _schedule_meter(self) -> None: ...

    def refresh_conversations(self, select_newest: bool = False) -> None:
        conversations = self.store.list_conversations()
        if select_newest and conversations and self.conversation_id is None:
            self._flush_chat_settings()
            self.conversation_id = conversations[0].id
            self.collection_picker.set_conversation(self.conversation_id)
            self.show_thread()
            self._bind_chat_settings()
        self.sidebar.set_conversations(conversations, self.conversation_id)
        self._update_empty_state()

    def new_chat(self) -> None:
        if self.composer.generating:
            return
        self._flush_chat_settings()
        self.conversation_id = None
        self.pending_chat = self._new_chat_defaults()
        self.collection_picker.set_conversation(None)
        self.chat_view.clear()
        self.sidebar.list.clearSelection()
        self._update_empty_state()
        self._bind_chat_settings()
        self._schedule_meter()
        self.composer.edit.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        if self.composer.generating or conversation_id == self.conversation_id:
            return
        self._flush_chat_settings()
        self.conversation_id = conversation_id
        self.collection_picker.set_conversation(conversation_id)
        self.sidebar.set_conversations(self.store.list_conversations(), conversation_id)
        self.show_thread()
        self._update_empty_state()
        self._bind_chat_settings()

    def _on_conversation_deleted(self, conversation_id: int) -> None:
        if conversation_id != self.conversation_id:
            return
        if self.composer.generating:
            self.bridge.cancel()
            self.streaming = None
            self.composer.set_generating(False)
        self.conversation_id = None
        self.pending_chat = self._new_chat_defaults()
        self.chat_view.clear()
        self._update_empty_state()
        self._bind_chat_settings()
        self._schedule_meter()

    # ---- what the empty chat and the composer say: both depend on whether a model is loaded
    def _update_empty_state(self) -> None:
        self.chat_view.set_empty_text(EMPTY_READY if self.bridge.is_loaded else EMPTY_NO_MODEL)

    def _update_composer(self) -> None:
        loaded = self.bridge.is_loaded
        self.composer.set_can_send(loaded, "Load a model first")
        self._update_empty_state()

    # ---- the thread: the current path through edited questions and regenerated answers
    def show_thread(self) -> None:
        if self.conversation_id is None:
            return
        self.chat_view.set_messages(self.store.messages(self.conversation_id), self._versions_for)
        self._schedule_meter()

    def _versions_for(self, message: Any) -> tuple[int, int]:
        siblings = self.store.siblings(message.id)
        ids = [m.id for m in siblings]
        return (ids.index(message.id) + 1 if message.id in ids else 1, max(1, len(ids)))

    def switch_version(self, message: Any, delta: int) -> None:
        if self.composer.generating:
            return
        siblings = self.store.siblings(message.id)
        ids = [m.id for m in siblings]
        index = ids.index(message.id) + delta
        if 0 <= index < len(ids):
            self.store.switch_to(ids[index])
            self.show_thread()
