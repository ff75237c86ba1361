"""Asking and answering: the part of MainWindow that sends a question (or an edited one, or asks
for another answer), builds the prompt that fits the context, streams the answer into the chat,
and saves it: at least once a second while it streams, so a crash loses at most a second of
text. Passages from the user's documents are added by documents_in_chat_mixin.py. Split out of
main_window.py by job; MainWindow inherits it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.chat import presets as chat_presets
from app.core.chat.prompt import build_messages
from app.core.chat.store import (
    STATUS_CANCELLED,
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    STATUS_STREAMING,
    ChatStore,
    Message,
    title_from_question,
)
from app.core.engine import protocol as p
from app.core.engine.client import ClientChatStats, EngineCrashed
from app.ui.chat_view import ChatView, Composer
from app.ui.engine_bridge import EngineBridge
from app.ui.message_widget import MessageWidget
from app.ui.model_bar import ModelBar
from app.ui.notice_bar import NoticeBar

if TYPE_CHECKING:
    # mypy sees the QMainWindow that MainWindow brings (statusBar); at run time a plain mixin.
    from PySide6.QtWidgets import QMainWindow as _WindowBase

    from app.ui.pages.collection_picker import CollectionPicker  # imported lazily by MainWindow
else:
    _WindowBase = object

SAVE_INTERVAL_S = 1.0  # a streaming answer reaches the database at least this often


class AnswerStreamingMixin(_WindowBase):
    # Provided by MainWindow (declared here so the dependencies are explicit).
    store: ChatStore
    bridge: EngineBridge
    sampling: p.SamplingParams
    chat_view: ChatView
    composer: Composer
    notice: NoticeBar
    model_bar: ModelBar
    collection_picker: CollectionPicker
    model_path: Path | None
    plan: Any
    conversation_id: int | None
    pending_chat: dict[str, Any]
    streaming: MessageWidget | None  # the answer being written, if any
    _stop_requested: bool
    _last_saved: float  # time.monotonic() of the streaming answer's last save
    _doc_sources: list[dict[str, Any]]  # the sources the answer being written was given

    if TYPE_CHECKING:  # from the other parts of MainWindow

        @staticmethod
        def _new_chat_defaults() -> dict[str, Any]: ...
        def _flush_chat_settings(self) -> None: ...
        def _bind_chat_settings(self) -> None: ...
        def _update_meter(self) -> None: ...
        def refresh_conversations(self, select_newest: bool = False) -> None: ...
        def show_thread(self) -> None: ...
        def _update_composer(self) -> None: ...
        def open_model(self, path: Path) -> None: ...
        def _add_sources(self, widget: MessageWidget) -> None: ...
        def _answer_from_documents(
            self,
            history: list[Message],
            system_prompt: str,
            collections: list[str],
            sampling: p.SamplingParams,
            n_ctx: int,
            cache_key: str,
        ) -> None: ...

    def send(self, text: str) -> None:
        if not self.bridge.is_loaded or self.bridge.busy:
            return
        self._flush_chat_settings()
        if self.conversation_id is None:
            pending = self.pending_chat
            conversation = self.store.create_conversation(
                title=title_from_question(text),
                model_path=str(self.model_path or ""),
                system_prompt=str(pending["system_prompt"]),
            )
            if pending["settings"]:
                self.store.update_conversation(
                    conversation.id, touch=False, settings=dict(pending["settings"])
                )
            self.conversation_id = conversation.id
            self.pending_chat = self._new_chat_defaults()
            self.collection_picker.set_conversation(conversation.id, just_created=True)
            self.refresh_conversations()
            self._bind_chat_settings()
        user_message = self.store.add_message(self.conversation_id, "user", text)
        self.chat_view.add_message(user_message)
        self._start_answer()

    def _start_answer(self, parent_id: int | None = None) -> None:
        """Stream a new answer to the thread's last question (as a new version when parent_id
        names a question that already has an answer)."""
        assert self.conversation_id is not None
        self._flush_chat_settings()
        conversation_id = self.conversation_id
        history = self.store.messages(conversation_id)
        if parent_id is not None:
            history = history[: next(i for i, m in enumerate(history) if m.id == parent_id) + 1]
        conversation = self.store.get_conversation(conversation_id)
        sampling = chat_presets.conversation_sampling(
            conversation.settings if conversation else {}, self.sampling
        )
        n_ctx = self.plan.n_ctx if self.plan else 4096
        prompt = build_messages(
            history,
            conversation.system_prompt if conversation else "",
            n_ctx,
            reserve_for_answer=min(sampling.max_tokens, n_ctx // 4),
        )
        if prompt.dropped_messages:
            self.statusBar().showMessage(
                f"The {prompt.dropped_messages} oldest messages were left out to fit the context.", 8000
            )
        room = max(64, n_ctx - prompt.estimated_tokens)
        sampling = dataclasses.replace(sampling, max_tokens=min(sampling.max_tokens, room))
        if parent_id is None:
            answer = self.store.add_message(conversation_id, "assistant", "", status=STATUS_STREAMING)
            self.streaming = self.chat_view.add_message(answer)
        else:
            self.store.add_message(
                conversation_id, "assistant", "", status=STATUS_STREAMING, parent_id=parent_id
            )
            self.show_thread()
            self.streaming = self.chat_view.last()
        self._last_saved = time.monotonic()
        self._stop_requested = False
        self.composer.set_generating(True)
        self.chat_view.set_actions_enabled(False)
        cache_key = f"conversation-{conversation_id}"
        collections = self.collection_picker.selected()
        self._doc_sources = []
        if not collections:
            self.bridge.chat(prompt.messages, sampling, cache_key=cache_key)
            return
        system_prompt = conversation.system_prompt if conversation else ""
        self._answer_from_documents(history, system_prompt, collections, sampling, n_ctx, cache_key)

    # ---- versions: edit, regenerate -----------------------------------------------------
    def _can_change_thread(self) -> bool:
        if self.composer.generating:
            return False
        if not self.bridge.is_loaded:
            self.notice.show_message("Load a model first: open one with “Open model…”.", "warning")
            return False
        return True

    def edit_and_resend(self, message: Any, text: str) -> None:
        if self.conversation_id is None or not self._can_change_thread():
            return
        self.store.add_message(self.conversation_id, "user", text, parent_id=message.parent_id)
        self.show_thread()
        self._start_answer()

    def regenerate(self, message: Any) -> None:
        if self.conversation_id is None or message.parent_id is None or not self._can_change_thread():
            return
        self._start_answer(parent_id=message.parent_id)

    def stop(self) -> None:
        if self.composer.generating or self.bridge.busy:
            self._stop_requested = True
            self.bridge.cancel()

    def _on_tokens(self, text: str) -> None:
        widget = self.streaming
        if widget is None:
            return
        widget.append(text)
        now = time.monotonic()
        if now - self._last_saved >= SAVE_INTERVAL_S:
            self.store.update_message(widget.message.id, content=widget.text)
            self._last_saved = now

    def _on_answer_done(self, text: str, stats: ClientChatStats) -> None:
        widget = self.streaming
        self.streaming = None
        self.composer.set_generating(False)
        if widget is None:
            return
        engine = stats.engine
        status = STATUS_CANCELLED if engine.finish_reason == "cancelled" else STATUS_COMPLETE
        saved_stats = {
            "prompt_tokens": engine.prompt_tokens,
            "generated_tokens": engine.generated_tokens,
            "tokens_per_s": round(stats.client_tokens_per_s, 2),
            "engine_tokens_per_s": round(engine.engine_eval_tokens_per_s, 2),
            "time_to_first_token_s": round(stats.time_to_first_token_s, 4),
            "model": self.model_path.name if self.model_path else "",
            "finish_reason": engine.finish_reason,
        }
        if self._doc_sources:
            saved_stats["sources"] = self._doc_sources
        self.store.update_message(widget.message.id, content=text, status=status, stats=saved_stats)
        widget.finish(status, saved_stats)
        self._add_sources(widget)
        self.chat_view.set_actions_enabled(True)
        self.refresh_conversations()
        self._update_meter()

    def _on_answer_cancelled_before_start(self) -> None:
        widget = self.streaming
        self.streaming = None
        self.composer.set_generating(False)
        if widget is not None:
            self.store.update_message(widget.message.id, content=widget.text, status=STATUS_CANCELLED)
            widget.finish(STATUS_CANCELLED)
        self.chat_view.set_actions_enabled(True)

    def _on_answer_failed(self, exc: Exception) -> None:
        widget = self.streaming
        self.streaming = None
        self.composer.set_generating(False)
        if widget is not None:
            self.store.update_message(widget.message.id, content=widget.text, status=STATUS_INTERRUPTED)
            widget.finish(STATUS_INTERRUPTED)
        self.chat_view.set_actions_enabled(True)
        details = getattr(exc, "log_tail", "")
        actions = []
        if isinstance(exc, EngineCrashed) and self.model_path is not None:
            path = self.model_path
            actions.append(("Reload model", lambda: self.open_model(path)))
            self.model_bar.set_state("ready")
            self.model_bar.plan_label.setText("The engine stopped. Click “Reload model” to go on.")
        message = getattr(exc, "message", None) or str(exc)
        self.notice.show_message(
            message + ("\nLast engine log lines:\n" + details if details else ""), "error", actions, details
        )
        self._update_composer()
