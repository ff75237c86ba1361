"""The settings a conversation answers with: its system prompt, sampling and context choices
(chat presets) and its document collections.

A saved conversation keeps them in its row (ChatStore); a new chat, not saved until its first
question, keeps them here ("pending") and hands them to its row when it is created. The
session (session.py) owns which conversation is on screen and tells observers of changes; this
object only reads and writes the settings of the conversation it is told about.
"""

from __future__ import annotations

from typing import Any

from app.core.chat import documents_step as docs
from app.core.chat import presets as chat_presets
from app.core.chat.store import ChatStore
from app.core.engine import protocol as p


class ChatSettings:
    def __init__(self, store: ChatStore) -> None:
        self.store = store
        self._pending = self._defaults()  # a new chat's settings until its first message
        self._pending_collections: list[str] = []

    @staticmethod
    def _defaults() -> dict[str, Any]:
        preset = chat_presets.default_preset()
        return {"system_prompt": preset.system_prompt, "settings": chat_presets.preset_settings(preset)}

    def start_new_chat(self) -> None:
        """A new chat starts from the default preset and no documents (a question about cats
        should not search last week's contracts)."""
        self._pending = self._defaults()
        self._pending_collections = []

    def of(self, conversation_id: int | None) -> tuple[str, dict[str, Any]]:
        """The system prompt and settings of that conversation (None: the new chat's)."""
        if conversation_id is not None:
            conversation = self.store.get_conversation(conversation_id)
            if conversation is not None:
                return conversation.system_prompt, dict(conversation.settings)
        return str(self._pending["system_prompt"]), dict(self._pending["settings"])

    def save(self, conversation_id: int | None, system_prompt: str, updates: dict[str, Any]) -> None:
        if conversation_id is not None:
            conversation = self.store.get_conversation(conversation_id)
            if conversation is None:
                return
            # Merge: other keys (the documents choice) stay as they are.
            merged = chat_presets.merge_settings(conversation.settings, updates)
            self.store.update_conversation(
                conversation_id, touch=False, system_prompt=system_prompt, settings=merged
            )
        else:
            self._pending = {
                "system_prompt": system_prompt,
                "settings": chat_presets.merge_settings(self._pending["settings"], updates),
            }

    def sampling(self, conversation_id: int | None, base: p.SamplingParams) -> p.SamplingParams:
        return chat_presets.conversation_sampling(self.of(conversation_id)[1], base)

    def wanted_context(self, conversation_id: int | None, default: int) -> int:
        return chat_presets.conversation_context(self.of(conversation_id)[1], default)

    def collections(self, conversation_id: int | None) -> list[str]:
        """The document collections that conversation answers from."""
        if conversation_id is None:
            return list(self._pending_collections)
        return docs.collections_in(self.of(conversation_id)[1])

    def set_collections(self, conversation_id: int | None, names: list[str]) -> None:
        if conversation_id is None:
            self._pending_collections = list(names)
            return
        conversation = self.store.get_conversation(conversation_id)
        if conversation is not None:
            settings = docs.with_collections(conversation.settings, names)
            self.store.update_conversation(conversation_id, settings=settings)

    def give_to(self, conversation_id: int) -> None:
        """The new chat was saved as `conversation_id`: its row takes the pending settings and
        documents, and the next new chat starts from the defaults again."""
        settings = docs.with_collections(self._pending["settings"], self._pending_collections)
        self.store.update_conversation(conversation_id, touch=False, settings=settings)
        self.start_new_chat()

    @property
    def pending_system_prompt(self) -> str:
        return str(self._pending["system_prompt"])
