"""Opening and loading a model: the part of MainWindow that picks a GGUF file, reads its facts
and plans the GPU offload on a worker, loads it in the engine host with progress, and unloads it
to free the memory. Split out of main_window.py by job; MainWindow inherits it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog

from app.core.cancel import CancelToken
from app.core.settings import Settings, save_settings
from app.ui.engine_bridge import EngineBridge
from app.ui.model_bar import ModelBar
from app.ui.notice_bar import NoticeBar
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    # mypy sees the QMainWindow that MainWindow brings (statusBar, a parent for dialogs);
    # at run time this is a plain mixin.
    from PySide6.QtWidgets import QMainWindow as _WindowBase
else:
    _WindowBase = object

log = logging.getLogger("enclave.ui.window")  # the window's logger, as before the split


class ModelLoadingMixin(_WindowBase):
    # Provided by MainWindow (declared here so the dependencies are explicit).
    settings: Settings
    bridge: EngineBridge
    model_bar: ModelBar
    notice: NoticeBar
    hardware: Any
    facts: Any
    plan: Any
    model_path: Path | None
    _load_request: tuple[int, str]  # (wanted context, chat format) being loaded
    _loaded_request: tuple[int, str] | None  # ...and what the loaded model got
    _loaded_format: str

    if TYPE_CHECKING:  # from the other parts of MainWindow

        def _flush_chat_settings(self) -> None: ...
        def _wanted_context(self) -> int: ...
        def _update_model_settings(self) -> None: ...
        def _schedule_meter(self) -> None: ...
        def _update_composer(self) -> None: ...

    def choose_model_file(self) -> None:
        start = (
            str(self.settings.resolved_models_dir()) if self.settings.resolved_models_dir().exists() else ""
        )
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model", start, "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.open_model(Path(path))

    def _load_opened_model(self) -> None:
        if self.model_path is not None:
            self.open_model(self.model_path)

    def open_model(self, path: Path) -> None:
        """Read the file's facts and plan on a worker, show them, then load with progress."""
        if self.bridge.busy:
            self.notice.show_message("Please wait: the engine is busy. Stop the answer first.", "warning")
            return
        self.notice.hide()
        self.model_bar.set_state("loading")
        self.model_bar.name_label.setText(path.name)
        self.model_bar.plan_label.setText("Reading the model file…")
        self._flush_chat_settings()
        wanted_ctx = self._wanted_context()
        chat_format = self.settings.chat_format_overrides.get(str(path)) or None
        hardware = self.hardware

        def inspect(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.gguf_facts import read_model_facts
            from app.core.hardware import detect_hardware
            from app.core.planner import plan_offload

            facts = read_model_facts(path)
            hw = hardware or detect_hardware()
            return facts, hw, plan_offload(facts, hw, wanted_ctx)

        def inspected(result: Any) -> None:
            facts, hw, plan = result
            self.hardware = hw
            self.facts, self.plan, self.model_path = facts, plan, path
            self.model_bar.show_model(facts, plan)
            if not plan.fits:
                self.model_bar.set_state("ready")
                self.notice.show_message(
                    f"{path.name} is too large for this computer: {plan.summary}", "error"
                )
                return
            self._load_request = (wanted_ctx, chat_format or "")
            self.bridge.load(
                path, wanted_ctx, self.settings.n_threads, facts=facts, hardware=hw, chat_format=chat_format
            )

        run_task(inspect, name="inspect", on_result=inspected, on_error=self._on_load_failed)

    def _on_loaded(self, outcome: Any) -> None:
        self.plan = outcome.plan
        self.model_bar.set_state("loaded")
        self.model_bar.show_model(outcome.facts, outcome.plan)
        self.statusBar().showMessage(
            f"Loaded {self.model_path.name if self.model_path else ''} "
            f"in {outcome.loaded.load_seconds:.1f} s",
            8000,
        )
        if outcome.notice:
            self.notice.show_message(outcome.notice, "warning")
        self._loaded_request = self._load_request
        self._loaded_format = outcome.loaded.chat_format
        self.settings.last_model = str(self.model_path)
        save_settings(self.settings)
        self._update_composer()
        self._update_model_settings()
        self._schedule_meter()

    def _on_load_failed(self, exc: Exception) -> None:
        self.model_bar.set_state("ready" if self.model_path else "empty")
        name = self.model_path.name if self.model_path else "the model"
        message = getattr(exc, "message", None) or str(exc)
        details = getattr(exc, "log_tail", "")
        self.model_bar.plan_label.setText("Not loaded.")
        self.notice.show_message(message, "error", details=details)
        log.warning("loading %s failed: %s", name, type(exc).__name__)
        self._update_composer()

    def _on_load_cancelled(self) -> None:
        self.model_bar.set_state("ready")
        self.model_bar.plan_label.setText("Loading cancelled.")
        self._update_composer()

    def unload_model(self) -> None:
        self.bridge.unload()
        self.model_bar.set_state("ready")
        self.model_bar.plan_label.setText("Unloaded: the memory is free. Click Load to use it again.")
        self._loaded_request = None
        self._update_composer()
        self._update_model_settings()
        self._schedule_meter()
