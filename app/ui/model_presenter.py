"""The model strip bound to the EngineService: open a GGUF file, show its facts and the plan,
load it with progress and Cancel, unload it; and, when a server answers instead, say which.
The state (which model, its plan, what loaded) is the service's; this draws it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QStatusBar, QWidget

from app.core.cancel import CancelToken
from app.core.engine.service import EngineService
from app.core.i18n import number, translate, translate_noop
from app.core.model_names import display_name
from app.core.settings import SettingsStore
from app.ui.model_bar import NO_MODEL, NO_MODEL_HINT, ModelBar
from app.ui.notice_bar import NoticeBar
from app.ui.tasks import ProgressFn, run_task

log = logging.getLogger("enclave.ui.window")

BASE_MODEL_NOTE = translate_noop(
    "model_presenter",
    "This is a base model: it continues text rather than answering questions, so its replies "
    "may ramble. For conversations, choose a model made for chat (its name usually says "
    "“Instruct” or “Chat”): Discover recommends one for this computer.",
)

# Settings that decide which engine answers.
ENGINE_SETTINGS = frozenset({"engine_mode", "server_url", "server_model"})


class ModelPresenter:
    def __init__(
        self,
        service: EngineService,
        settings_store: SettingsStore,
        bar: ModelBar,
        notice: NoticeBar,
        status_bar: QStatusBar,
        dialog_parent: QWidget,
        wanted_context: Callable[[], int],
        is_answering: Callable[[], bool],
    ) -> None:
        """wanted_context: the context size the conversation on screen asks for;
        is_answering: True while an answer streams (a load would wait behind it)."""
        self.service = service
        self.settings_store = settings_store
        self.bar = bar
        self.notice = notice
        self.status_bar = status_bar
        self.dialog_parent = dialog_parent
        self.wanted_context = wanted_context
        self.is_answering = is_answering
        bar.openRequested.connect(self.choose_model_file)
        bar.loadRequested.connect(self.reload)
        bar.cancelRequested.connect(service.cancel_load)
        bar.unloadRequested.connect(self.unload)
        service.loading.connect(bar.set_progress)
        service.loaded.connect(self._on_loaded)
        service.load_failed.connect(self._on_load_failed)
        service.load_cancelled.connect(self._on_load_cancelled)
        service.crashed.connect(self._on_crashed)
        service.engine_changed.connect(self.show_engine)
        settings_store.changed.connect(self._on_settings_changed)
        self._applied: tuple[str, str, str] | None = None  # the engine settings in force

    # ---- which engine answers: this computer, or the server chosen in Settings ------------
    def apply_engine_settings(self) -> None:
        """Use the engine Settings choose; the server's key comes from the keyring, which can
        be slow to unlock, so the engine is made on a worker."""
        settings = self.settings_store.current
        wanted = (settings.engine_mode, settings.server_url, settings.server_model)
        if wanted == self._applied:
            return  # answering that way, or about to (start-up and a settings change both ask)
        self._applied = wanted

        def make(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.engine.remote import remote_engine_from_settings

            return remote_engine_from_settings(settings)

        def made(engine: Any) -> None:
            if engine is None and not self.service.is_remote:
                return
            self.service.use_remote(engine)

        def failed(exc: Exception) -> None:
            self._applied = None
            self.service.use_remote(None)
            self.notice.show_message(getattr(exc, "message", None) or str(exc), "warning")

        run_task(make, name="engine-choice", on_result=made, on_error=failed)

    def _on_settings_changed(self, names: set[str]) -> None:
        if names & ENGINE_SETTINGS:
            self.apply_engine_settings()

    # ---- user actions -------------------------------------------------------------------
    def choose_model_file(self) -> None:
        folder = self.settings_store.current.resolved_models_dir()
        path, _ = QFileDialog.getOpenFileName(
            self.dialog_parent,
            translate("model_presenter", "Open a model"),
            str(folder) if folder.exists() else "",
            translate("model_presenter", "GGUF models (*.gguf);;All files (*)"),
        )
        if path:
            self.open_model(Path(path))

    def reload(self) -> None:
        if self.service.model_path is not None:
            self.open_model(self.service.model_path)

    def open_model(self, path: Path) -> None:
        """Read the file's facts and plan on a worker, show them, then load with progress."""
        if self.service.is_remote:
            self.notice.show_message(
                translate(
                    "model_presenter",
                    "Answers come from the server {server} now. To use a model on this "
                    "computer, turn off “Use a server” in Settings.",
                ).format(server=self.service.where),
                "warning",
            )
            return
        if self.is_answering() or self.service.is_loading:
            self.notice.show_message(
                translate("model_presenter", "Please wait: the engine is busy. Stop the answer first."),
                "warning",
            )
            return
        self.notice.hide()
        self.bar.set_state("loading")
        self.bar.name_label.setText(display_name(path))
        self.bar.plan_label.setText(translate("model_presenter", "Reading the model file…"))
        wanted_ctx = self.wanted_context()
        settings = self.settings_store.current
        chat_format = settings.chat_format_overrides.get(str(path)) or None
        hardware = self.service.hardware

        def inspect(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.engine.loader import check_allowed
            from app.core.gguf_facts import read_model_facts
            from app.core.hardware import detect_hardware
            from app.core.planner import plan_offload

            check_allowed(path)  # the organisation's policy, before the file is read
            facts = read_model_facts(path)
            hw = hardware or detect_hardware()
            plan = plan_offload(facts, hw, wanted_ctx, gpu_choice=settings.pinned_gpu())
            draft = None
            if settings.draft_models and plan.fits:
                from app.core.draft_pairing import draft_for
                from app.core.library import scan_library

                draft = draft_for(facts, plan, (m.path for m in scan_library(settings) if not m.missing))
            return facts, hw, plan, draft

        def inspected(result: Any) -> None:
            facts, hw, plan, draft = result
            service = self.service
            if service.closed:  # the window closed while the file was being read: nothing to load
                return
            service.hardware, service.facts, service.plan, service.model_path = hw, facts, plan, path
            self.bar.show_model(facts, plan)
            if not plan.fits:
                self.bar.set_state("ready")
                self.notice.show_message(
                    translate("model_presenter", "{file} is too large for this computer: {reason}").format(
                        file=path.name, reason=plan.summary
                    ),
                    "error",
                )
                return
            service.load(
                path, wanted_ctx, settings.n_threads, chat_format=chat_format, hardware=hw, facts=facts,
                draft_model=draft,
            )

        run_task(inspect, name="inspect", on_result=inspected, on_error=self._on_load_failed)

    def restore_last_engine(self) -> None:
        """At start: the server Settings choose, or the model used last time loaded again (with
        the bar's Cancel visible), so the user finds the app as they left it."""
        settings = self.settings_store.current
        if settings.engine_mode == "server":
            self.apply_engine_settings()
            return
        last = settings.last_model
        if self.service.is_remote or self.service.model_path is not None:
            return
        if not last:
            self._open_default_model()
            return
        path = Path(last)
        if path.is_file():
            self.open_model(path)
        else:
            self.bar.plan_label.setText(
                translate(
                    "model_presenter",
                    "The model used last time ({file}) is no longer there. Open another one.",
                ).format(file=path.name)
            )

    def _open_default_model(self) -> None:
        """The organisation's `default_model`, found on a worker (it may sit on a network share)."""
        from app.core.policy import current_policy

        if not current_policy().default_model:
            return

        def find(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.policy_rules import find_default_model

            return find_default_model()

        def found(path: Any) -> None:
            if path is None:
                self.bar.plan_label.setText(
                    translate(
                        "model_presenter",
                        "Your organisation's default model ({model}) is not on this computer. "
                        "Open another one.",
                    ).format(model=current_policy().default_model)
                )
            elif self.service.model_path is None and not self.service.is_remote:
                self.open_model(path)

        run_task(find, name="default-model", on_result=found)

    def unload(self) -> None:
        self.service.unload()
        self.bar.set_state("ready")
        self.bar.plan_label.setText(
            translate("model_presenter", "Unloaded: the memory is free. Click Load to use it again.")
        )

    # ---- what the service says ----------------------------------------------------------
    def _on_loaded(self, outcome: Any) -> None:
        path = self.service.model_path
        self.bar.set_state("loaded")
        self.bar.show_model(outcome.facts, outcome.plan)
        self.status_bar.showMessage(
            translate("model_presenter", "Loaded {file} in {seconds} s").format(
                file=path.name if path else "", seconds=number(outcome.loaded.load_seconds, 1)
            ),
            8000,
        )
        if outcome.notice:
            self.notice.show_message(outcome.notice, "warning")
        elif not outcome.facts.has_chat_template:
            self.notice.show_message(translate("model_presenter", BASE_MODEL_NOTE), "info")
        try:
            self.settings_store.update(last_model=str(path or ""))
        except OSError as exc:
            log.warning("could not save the last model: %s", exc)

    def _on_load_failed(self, exc: Exception) -> None:
        path = self.service.model_path
        self.bar.set_state("ready" if path else "empty")
        message = getattr(exc, "message", None) or str(exc)
        self.bar.plan_label.setText(translate("model_presenter", "Not loaded."))
        self.notice.show_message(message, "error", details=getattr(exc, "log_tail", ""))
        log.warning("loading %s failed: %s", path.name if path else "the model", type(exc).__name__)

    def _on_load_cancelled(self) -> None:
        self.bar.set_state("ready")
        self.bar.plan_label.setText(translate("model_presenter", "Loading cancelled."))

    def _on_crashed(self, _exc: Exception) -> None:
        self.bar.set_state("ready")
        self.bar.plan_label.setText(
            translate("model_presenter", "The engine stopped. Click “Reload model” to go on.")
        )

    def show_engine(self) -> None:
        """Local model strip, or which server answers."""
        service = self.service
        remote = service.is_remote
        self.bar.open_button.setVisible(not remote)
        if remote:
            self.bar.set_state("empty")
            self.bar.open_button.hide()
            self.bar.name_label.setText(
                service.model_name or translate("model_presenter", "No server model chosen")
            )
            self.bar.plan_label.setText(
                translate(
                    "model_presenter",
                    "Answers come from the server {server}: your messages go there, not to a "
                    "model on this computer.",
                ).format(server=service.where)
            )
            self.bar.details_button.setEnabled(False)
        elif service.local.is_ready and service.facts is not None:
            self.bar.set_state("loaded")
            self.bar.show_model(service.facts, service.plan)
        elif service.model_path is not None:
            self.bar.set_state("ready")
            self.bar.name_label.setText(display_name(service.model_path))
            self.bar.plan_label.setText(translate("model_presenter", "Not loaded. Click Load to use it."))
        else:
            self.bar.set_state("empty")
            self.bar.name_label.setText(translate("model_bar", NO_MODEL))
            self.bar.plan_label.setText(translate("model_bar", NO_MODEL_HINT))
