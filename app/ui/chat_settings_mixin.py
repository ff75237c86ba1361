"""The chat-settings drawer and the context meter: the part of MainWindow that keeps a
conversation's system prompt, sampling, context size and chat format, and shows how much of the
context the next answer takes. Split out of main_window.py by job; MainWindow inherits it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer

from app.core.chat import presets as chat_presets
from app.core.chat.prompt import build_messages, estimate_tokens
from app.core.chat.store import STATUS_COMPLETE, STATUS_ERROR, ChatStore, Message
from app.core.engine import protocol as p
from app.core.settings import Settings, load_settings, save_settings
from app.ui.chat_view import ChatView, Composer
from app.ui.context_meter import ContextMeter
from app.ui.engine_bridge import EngineBridge
from app.ui.notice_bar import NoticeBar


class ChatSettingsMixin:
    # Provided by MainWindow (declared here so the dependencies are explicit).
    store: ChatStore
    bridge: EngineBridge
    settings: Settings
    sampling: p.SamplingParams
    conversation_id: int | None
    pending_chat: dict[str, Any]
    settings_panel: Any
    settings_button: Any
    _chat_row: Any
    model_path: Path | None
    plan: Any
    _loaded_request: tuple[int, str] | None
    _loaded_format: str
    notice: NoticeBar
    composer: Composer
    chat_view: ChatView
    context_meter: ContextMeter
    _meter_timer: QTimer
    _closed: bool

    if TYPE_CHECKING:  # from the other parts of MainWindow (a stub here would shadow them)

        def open_model(self, path: Path) -> None: ...

    @staticmethod
    def _new_chat_defaults() -> dict[str, Any]:
        preset = chat_presets.default_preset()
        return {"system_prompt": preset.system_prompt, "settings": chat_presets.preset_settings(preset)}

    def chat_settings(self) -> tuple[str, dict[str, Any]]:
        """The system prompt and settings the next answer uses (a new chat's pending ones)."""
        if self.conversation_id is not None:
            conversation = self.store.get_conversation(self.conversation_id)
            if conversation is not None:
                return conversation.system_prompt, dict(conversation.settings)
        return str(self.pending_chat["system_prompt"]), dict(self.pending_chat["settings"])

    def show_chat_settings(self, visible: bool = True) -> None:
        if visible and self.settings_panel is None:
            from app.ui.conversation_settings import ConversationSettingsPanel

            panel = ConversationSettingsPanel()
            panel.edited.connect(self._save_chat_settings)
            panel.chatFormatChosen.connect(self._set_chat_format)
            panel.reloadRequested.connect(self.apply_and_reload)
            panel.closeRequested.connect(lambda: self.show_chat_settings(False))
            self._chat_row.addWidget(panel)
            self.settings_panel = panel
        if self.settings_panel is None:
            return
        if not visible:
            self.settings_panel.flush()
        self.settings_panel.setVisible(visible)
        self.settings_button.setChecked(visible)
        if visible:
            self._bind_chat_settings()

    def _flush_chat_settings(self) -> None:
        if self.settings_panel is not None:
            self.settings_panel.flush()

    def _bind_chat_settings(self) -> None:
        panel = self.settings_panel
        if panel is None or panel.isHidden():
            return
        system_prompt, settings = self.chat_settings()
        panel.bind(
            system_prompt,
            settings,
            new_chat=self.conversation_id is None,
            base_sampling=self.sampling,
            default_context=self.settings.default_context,
        )
        self._update_model_settings()

    def _save_chat_settings(self, system_prompt: str, updates: dict[str, Any]) -> None:
        if self.conversation_id is not None:
            conversation = self.store.get_conversation(self.conversation_id)
            if conversation is None:
                return
            # Merge: other keys (the documents picker's "collections") stay as they are.
            merged = chat_presets.merge_settings(conversation.settings, updates)
            self.store.update_conversation(
                self.conversation_id, touch=False, system_prompt=system_prompt, settings=merged
            )
        else:
            self.pending_chat = {
                "system_prompt": system_prompt,
                "settings": chat_presets.merge_settings(self.pending_chat["settings"], updates),
            }
        if chat_presets.KEY_CONTEXT in updates:
            self._update_model_settings()
        self._schedule_meter()

    def _wanted_context(self) -> int:
        return chat_presets.conversation_context(self.chat_settings()[1], self.settings.default_context)

    def _set_chat_format(self, name: str) -> None:
        """Remember the chat format the user chose for the current model (next load uses it)."""
        if self.model_path is None:
            return
        fresh = load_settings()  # change only this key of what is on disk
        key = str(self.model_path)
        if name:
            fresh.chat_format_overrides[key] = name
        else:
            fresh.chat_format_overrides.pop(key, None)
        save_settings(fresh)
        self.settings.chat_format_overrides = dict(fresh.chat_format_overrides)
        self._update_model_settings()

    def _update_model_settings(self) -> None:
        panel = self.settings_panel
        if panel is None or panel.isHidden():
            return
        path = self.model_path
        chosen_format = self.settings.chat_format_overrides.get(str(path), "") if path else ""
        wanted = self._wanted_context()
        needs_reload = False
        if path is None:
            status = "Open a model to choose its context size and chat format."
        elif not self.bridge.is_loaded or self._loaded_request is None:
            status = f"Not loaded. “Apply & reload” loads {path.name} with these settings."
            needs_reload = True
        else:
            loaded_ctx = self.plan.n_ctx if self.plan is not None else 0
            fmt = "the model's own" if self._loaded_format == "gguf-template" else self._loaded_format
            status = f"Loaded with a context of {loaded_ctx:,} tokens; chat format: {fmt}."
            asked_ctx = self._loaded_request[0]
            if 0 < loaded_ctx < asked_ctx:
                status += f" (You asked for {asked_ctx:,}: this model and computer allow {loaded_ctx:,}.)"
            needs_reload = (wanted, chosen_format) != self._loaded_request
            if needs_reload:
                status += " Your new choice takes effect after “Apply & reload”."
        panel.set_model(path.name if path else "", chosen_format, status, needs_reload)

    def apply_and_reload(self) -> None:
        """Load the model again with the chosen context size and chat format."""
        self._flush_chat_settings()
        if self.model_path is None:
            self.notice.show_message("Open a model first: click “Open model…”.", "warning")
            return
        if self.composer.generating or self.bridge.busy:
            self.notice.show_message("Wait for the answer to finish (or press Stop), then reload.", "warning")
            return
        self.open_model(self.model_path)

    def _schedule_meter(self) -> None:
        self._meter_timer.start()

    def _update_meter(self) -> None:
        """Tokens the next answer's prompt will take, and which old messages no longer fit."""
        self._meter_timer.stop()
        if self._closed:
            return
        n_ctx = self.plan.n_ctx if self.plan is not None and self.bridge.is_loaded else 0
        if not n_ctx:
            self.context_meter.hide()
            self.chat_view.set_forgotten(set())
            return
        system_prompt, settings = self.chat_settings()
        sampling = chat_presets.conversation_sampling(settings, self.sampling)
        history = self.store.messages(self.conversation_id) if self.conversation_id is not None else []
        draft = self.composer.edit.toPlainText().strip()
        candidates = list(history)
        if draft:
            candidates.append(Message(-1, self.conversation_id or 0, "user", draft, STATUS_COMPLETE, 0.0))
        plan = build_messages(
            candidates, system_prompt, n_ctx, reserve_for_answer=min(sampling.max_tokens, n_ctx // 4)
        )
        usable = [m for m in candidates if m.status != STATUS_ERROR and m.content.strip()]
        forgotten = {m.id for m in usable[: plan.dropped_messages] if m.id >= 0}
        used, exact = plan.estimated_tokens, False
        last = history[-1] if history else None
        if last is not None and last.role == "assistant" and not forgotten:
            # After an answer the engine's own count is known: its prompt plus what it wrote.
            prompt_tokens = last.stats.get("prompt_tokens")
            generated = last.stats.get("generated_tokens")
            if isinstance(prompt_tokens, int) and isinstance(generated, int):
                used = prompt_tokens + generated + (estimate_tokens(draft) if draft else 0)
                exact = not draft
        self.context_meter.set_usage(used, n_ctx, plan.dropped_messages, exact)
        self.chat_view.set_forgotten(forgotten)

