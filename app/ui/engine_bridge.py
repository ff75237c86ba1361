"""Qt face of the engine client: runs its blocking calls on the single engine thread and
turns their results into signals on the GUI thread."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.core.cancel import CancelToken
from app.core.engine import protocol as p
from app.core.engine.client import EngineClient
from app.ui.tasks import ProgressFn, TaskHandle, run_task

log = logging.getLogger("enclave.ui.engine")


class EngineBridge(QObject):
    loadProgress = Signal(float)
    loaded = Signal(object)  # app.core.engine.loader.LoadOutcome
    loadFailed = Signal(object)  # the exception (GGUFError, ModelDoesNotFit, EngineError...)
    loadCancelled = Signal()
    tokens = Signal(str)
    answerDone = Signal(str, object)  # full text, ClientChatStats
    answerFailed = Signal(object)  # EngineError / EngineCrashed
    answerCancelled = Signal()  # stopped before the engine started on it

    def __init__(self, client: EngineClient | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client or EngineClient()
        self._current: TaskHandle | None = None
        self._chat_stop: CancelToken | None = None
        self.model_path: Path | None = None

    @property
    def busy(self) -> bool:
        return self._current is not None and self._current.running

    @property
    def is_loaded(self) -> bool:
        return self.client.loaded is not None and self.client.is_running

    def _started(self, handle: TaskHandle) -> TaskHandle:
        self._current = handle
        return handle

    def prewarm(self) -> None:
        """Start the host process early, so the first load does not wait for it."""

        def start(_progress: ProgressFn, _cancel: CancelToken) -> None:
            self.client.start()

        run_task(
            start,
            name="engine-start",
            pool_name="engine",
            on_error=lambda exc: log.warning("engine prewarm failed: %s", exc),
        )

    def load(
        self,
        model_path: Path,
        wanted_ctx: int | None = None,
        n_threads: int = 0,
        facts: Any = None,
        hardware: Any = None,
        chat_format: str | None = None,
    ) -> TaskHandle:
        """chat_format: a llama-cpp-python format name the user chose; None: the model's own."""
        from app.core.engine.loader import load_model

        def work(progress: ProgressFn, _cancel: CancelToken) -> Any:
            return load_model(
                self.client,
                model_path,
                wanted_ctx=wanted_ctx,
                n_threads=n_threads,
                chat_format=chat_format,
                facts=facts,
                hardware=hardware,
                on_progress=progress,
            )

        def done(outcome: Any) -> None:
            self.model_path = model_path
            self.loaded.emit(outcome)

        return self._started(
            run_task(
                work,
                name="load",
                pool_name="engine",
                on_progress=self.loadProgress.emit,
                on_result=done,
                on_error=self.loadFailed.emit,
                on_cancelled=self.loadCancelled.emit,
            )
        )

    def chat(
        self, messages: list[dict[str, str]], sampling: p.SamplingParams, cache_key: str | None = None
    ) -> TaskHandle:
        # Stop may come while this request still waits its turn (behind an embedding, say);
        # the client honours this token when the request starts, so that Stop is never lost.
        stop = CancelToken()
        self._chat_stop = stop

        def work(progress: ProgressFn, _cancel: CancelToken) -> Any:
            return self.client.chat(
                messages, sampling, on_tokens=progress, cache_key=cache_key, stop=stop
            )

        return self._started(
            run_task(
                work,
                name="chat",
                pool_name="engine",
                on_progress=self.tokens.emit,
                on_result=lambda result: self.answerDone.emit(result[0], result[1]),
                on_error=self.answerFailed.emit,
                on_cancelled=self.answerCancelled.emit,
            )
        )

    def unload(self) -> TaskHandle:
        def work(_progress: ProgressFn, _cancel: CancelToken) -> None:
            self.client.unload()

        self.model_path = None
        return run_task(
            work,
            name="unload",
            pool_name="engine",
            on_error=lambda exc: log.warning("unload failed: %s", exc),
        )

    def cancel(self) -> None:
        """Stop the current load or answer; returns at once, the work ends within a token."""
        self.client.cancel()
        if self._chat_stop is not None:
            self._chat_stop.cancel()

    def shutdown(self) -> None:
        self.client.cancel()
        self.client.shutdown()
