"""The chat-settings drawer and the context meter, bound to the session (a conversation's system
prompt, sampling and context size), the engine service (what is loaded, with which format) and
the settings store (the chat format chosen for a model file)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QBoxLayout, QToolButton

from app.core.chat.session import ChatSession
from app.core.engine.service import EngineService
from app.core.i18n import number, translate
from app.core.settings import SettingsStore
from app.ui.chat_view import ChatView, Composer
from app.ui.context_meter import ContextMeter
from app.ui.notice_bar import NoticeBar

METER_DELAY_MS = 300  # the context meter follows typing this long after the last key


class ChatSettingsPresenter(QObject):
    def __init__(
        self,
        session: ChatSession,
        service: EngineService,
        settings_store: SettingsStore,
        drawer_row: QBoxLayout,
        button: QToolButton,
        meter: ContextMeter,
        composer: Composer,
        chat_view: ChatView,
        notice: NoticeBar,
        reload_model: Callable[[], None],
    ) -> None:
        """drawer_row: where the drawer goes beside the chat (built when first opened)."""
        super().__init__(button)
        self.session = session
        self.service = service
        self.settings_store = settings_store
        self.drawer_row = drawer_row
        self.button = button
        self.meter = meter
        self.composer = composer
        self.chat_view = chat_view
        self.notice = notice
        self.reload_model = reload_model
        self.panel: Any = None  # ConversationSettingsPanel, built when first opened
        self.closed = False
        self._meter_timer = QTimer(self)
        self._meter_timer.setSingleShot(True)
        self._meter_timer.setInterval(METER_DELAY_MS)
        self._meter_timer.timeout.connect(self.update_meter)
        button.toggled.connect(self.show_drawer)
        composer.edit.textChanged.connect(self.schedule_meter)
        session.conversation_changed.connect(self._on_conversation_changed)
        # Not at once: the answer's end already renders it, saves it and refreshes the list on
        # the GUI thread; counting the thread's tokens in the same turn made one 30-60 ms stall
        # (bench_gui_stall.py). It comes in its own turn, a moment later.
        session.answer_finished.connect(lambda _m: self.schedule_meter())
        for event in (service.loaded, service.unloaded, service.crashed, service.engine_changed):
            event.connect(self._on_engine_state)
        service.counter_ready.connect(self.schedule_meter)  # exact counts, remembered

    # ---- the drawer ---------------------------------------------------------------------
    def show_drawer(self, visible: bool = True) -> None:
        if visible and self.panel is None:
            from app.ui.conversation_settings import ConversationSettingsPanel

            panel = ConversationSettingsPanel()
            panel.edited.connect(self._save)
            panel.chatFormatChosen.connect(self._set_chat_format)
            panel.reloadRequested.connect(self.apply_and_reload)
            panel.closeRequested.connect(lambda: self.show_drawer(False))
            self.drawer_row.addWidget(panel)
            self.panel = panel
        if self.panel is None:
            return
        if not visible:
            self.panel.flush()
        self.panel.setVisible(visible)
        self.button.setChecked(visible)
        if visible:
            self.bind()

    def flush(self) -> None:
        """Save what is typed in the drawer now (before an answer, a switch, closing)."""
        if self.panel is not None:
            self.panel.flush()

    def bind(self) -> None:
        panel = self.panel
        if panel is None or panel.isHidden():
            return
        system_prompt, settings = self.session.chat_settings()
        panel.bind(
            system_prompt,
            settings,
            new_chat=self.session.conversation_id is None,
            base_sampling=self.session.base_sampling,
            default_context=self.settings_store.current.default_context,
        )
        self.update_model_status()

    def wanted_context(self) -> int:
        self.flush()
        return self.session.wanted_context(self.settings_store.current.default_context)

    def _save(self, system_prompt: str, updates: dict[str, Any]) -> None:
        from app.core.chat import presets as chat_presets

        self.session.save_chat_settings(system_prompt, updates)
        if chat_presets.KEY_CONTEXT in updates:
            self.update_model_status()
        self.schedule_meter()

    def _set_chat_format(self, name: str) -> None:
        """Remember the chat format the user chose for the current model (next load uses it)."""
        path = self.service.model_path
        if path is None:
            return
        overrides = dict(self.settings_store.current.chat_format_overrides)
        if name:
            overrides[str(path)] = name
        else:
            overrides.pop(str(path), None)
        self.settings_store.update(chat_format_overrides=overrides)
        self.update_model_status()

    def update_model_status(self) -> None:
        panel = self.panel
        if panel is None or panel.isHidden():
            return
        service = self.service
        path = service.model_path
        chosen_format = self.settings_store.current.chat_format_overrides.get(str(path), "") if path else ""
        wanted = self.session.wanted_context(self.settings_store.current.default_context)
        needs_reload = False
        loaded = service.loaded_wish
        if path is None:
            status = translate(
                "chat_settings_presenter", "Open a model to choose its context size and chat format."
            )
        elif not service.local.is_ready or loaded is None:
            status = translate(
                "chat_settings_presenter", "Not loaded. “Apply & reload” loads {file} with these settings."
            ).format(file=path.name)
            needs_reload = True
        else:
            loaded_ctx = service.plan.n_ctx if service.plan is not None else 0
            fmt = (
                translate("chat_settings_presenter", "the model's own")
                if service.loaded_format == "gguf-template"
                else service.loaded_format
            )
            status = translate(
                "chat_settings_presenter", "Loaded with a context of {tokens} tokens; chat format: {format}."
            ).format(tokens=number(loaded_ctx), format=fmt)
            if 0 < loaded_ctx < loaded.context:
                status += " " + translate(
                    "chat_settings_presenter",
                    "(You asked for {asked}: this model and computer allow {allowed}.)",
                ).format(asked=number(loaded.context), allowed=number(loaded_ctx))
            needs_reload = service.needs_reload(wanted, chosen_format)
            if needs_reload:
                status += " " + translate(
                    "chat_settings_presenter", "Your new choice takes effect after “Apply & reload”."
                )
        panel.set_model(path.name if path else "", chosen_format, status, needs_reload)

    def apply_and_reload(self) -> None:
        """Load the model again with the chosen context size and chat format."""
        self.flush()
        if self.service.model_path is None:
            self.notice.show_message(
                translate("chat_settings_presenter", "Open a model first: click “Open model…”."), "warning"
            )
            return
        if self.session.busy or self.service.is_loading:
            self.notice.show_message(
                translate(
                    "chat_settings_presenter", "Wait for the answer to finish (or press Stop), then reload."
                ),
                "warning",
            )
            return
        self.reload_model()

    def _on_conversation_changed(self, _conversation_id: int | None) -> None:
        self.bind()
        self.schedule_meter()

    def _on_engine_state(self, *_args: Any) -> None:
        self.update_model_status()
        self.schedule_meter()

    # ---- the context meter --------------------------------------------------------------
    def schedule_meter(self) -> None:
        if not self.closed:  # core events may still arrive while the window closes
            self._meter_timer.start()

    def update_meter(self) -> None:
        """Tokens the next answer's prompt will take, and which old messages no longer fit."""
        self._meter_timer.stop()
        if self.closed:
            return
        budget = self.session.context_budget(self.composer.edit.toPlainText())
        if budget is None:
            self.meter.hide()
            self.chat_view.set_forgotten(set())
            return
        self.meter.set_usage(budget.used_tokens, budget.n_ctx, budget.dropped_messages, budget.exact)
        self.chat_view.set_forgotten(set(budget.forgotten_ids))
