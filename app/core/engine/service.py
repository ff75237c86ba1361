"""The engine as the app sees it: which engine answers (this computer or a server), what model
is loaded, and the one queue every request goes through.

It replaces what the window used to keep in a dozen attributes (model path, facts, plan, the
load request, the loaded format...). The window, the chat session, the Documents page and the
local API all observe this one object:

    loading(float)        progress of a load, 0..1
    loaded(LoadOutcome)   a local model is ready (outcome.plan has the context size)
    load_failed(exc)      GGUFError, ModelDoesNotFit, EngineError...
    load_cancelled()
    unloaded()
    crashed(EngineCrashed)the host process died; the model must be loaded again
    engine_changed()      switched between this computer and a server

Events are emitted through `call_soon`, on the owner's thread (see app/core/calls.py).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psygnal import Signal

from app.core.calls import CallSoon, call_now
from app.core.cancel import Cancelled, CancelToken
from app.core.engine import token_counter
from app.core.engine.base import LOCAL_PLACE, Engine, EngineCrashed
from app.core.engine.client import EngineClient
from app.core.engine.queue import WINDOW, EngineJob, EngineQueue
from app.core.engine.token_counter import TokenCounter

log = logging.getLogger("enclave.engine.service")

REMOTE_DEFAULT_CONTEXT = 8192  # a server does not say its context size; assume a common one


@dataclass(frozen=True)
class LoadWish:
    """What the user asked for when loading (to tell later whether a reload is needed)."""

    path: Path
    context: int
    chat_format: str  # "" = the model's own template


class EngineService:
    loading = Signal(float)
    loaded = Signal(object)
    load_failed = Signal(object)
    load_cancelled = Signal()
    unloaded = Signal()
    crashed = Signal(object)
    engine_changed = Signal()
    counter_ready = Signal()  # the loaded model's token counter can count now (token_counter())

    def __init__(
        self,
        local: EngineClient | None = None,
        call_soon: CallSoon = call_now,
        max_waiting_api: int | None = None,
    ) -> None:
        self.local = local or EngineClient()
        self.remote: Engine | None = None
        self.call_soon = call_soon
        self.queue = (
            EngineQueue(lambda: self.engine)
            if max_waiting_api is None
            else EngineQueue(lambda: self.engine, max_waiting_api)
        )
        # The local model: what was opened, what the planner said, what actually loaded.
        self.model_path: Path | None = None
        self.facts: Any = None
        self.plan: Any = None
        self.hardware: Any = None
        self.loaded_wish: LoadWish | None = None  # what the loaded model got
        self.loaded_format = ""
        self._load_job: EngineJob[Any] | None = None

    # ---- which engine -------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return self.remote if self.remote is not None else self.local

    @property
    def is_remote(self) -> bool:
        return self.remote is not None

    @property
    def where(self) -> str:
        return self.engine.where if self.remote is not None else LOCAL_PLACE

    @property
    def is_ready(self) -> bool:
        return self.engine.is_ready

    @property
    def is_loading(self) -> bool:
        return self._load_job is not None

    @property
    def model_name(self) -> str:
        return self.engine.model_name

    @property
    def n_ctx(self) -> int:
        """The context the next answer has (0 when nothing can answer)."""
        if self.remote is not None:
            return REMOTE_DEFAULT_CONTEXT if self.remote.is_ready else 0
        if self.plan is not None and self.local.is_ready:
            return int(self.plan.n_ctx)
        return 0

    def use_remote(self, engine: Engine | None) -> None:
        """Answer with a server from now on (None: back to this computer)."""
        previous = self.remote
        self.remote = engine
        if previous is not None and previous is not engine:
            # Closed behind whatever runs on it now: an answer streaming from it ends normally.
            self.queue.submit(lambda _engine, _token: previous.shutdown(), name="close-server")
        self._emit(self.engine_changed)

    # ---- loading a local model ----------------------------------------------------------
    def prewarm(self) -> None:
        """Start the host process early, so the first load does not wait for it."""
        if self.queue.closed:  # closed before the warm-up timer fired: nothing to start
            return
        self.queue.submit(lambda _engine, _token: self.local.start(), name="engine-start")

    def load(
        self,
        path: Path,
        wanted_ctx: int,
        n_threads: int = 0,
        chat_format: str | None = None,
        hardware: Any = None,
        facts: Any = None,
        draft_model: Path | None = None,
    ) -> EngineJob[Any]:
        """Plan and load in the background; the outcome comes as loaded / load_failed.
        draft_model: a small sibling that drafts tokens (engine/draft_model.py)."""
        from app.core.engine.loader import check_allowed, load_model

        wish = LoadWish(Path(path), wanted_ctx, chat_format or "")
        self.model_path = Path(path)
        hardware = hardware or self.hardware
        known_facts = facts

        def work(_engine: Engine, token: CancelToken) -> Any:
            from app.core.gguf_facts import read_model_facts
            from app.core.hardware import detect_hardware

            check_allowed(path)  # before reading the file: a refused model is not opened
            model_facts = known_facts or read_model_facts(Path(path))
            token.raise_if_cancelled()
            hw = hardware or detect_hardware()
            return load_model(
                self.local,
                path,
                wanted_ctx=wanted_ctx,
                n_threads=n_threads,
                chat_format=chat_format,
                facts=model_facts,
                hardware=hw,
                on_progress=lambda fraction: self._emit(self.loading, fraction),
                draft_model=draft_model,
            ), hw

        job = self.queue.submit(work, priority=WINDOW, name="load")
        self._load_job = job
        job.future.add_done_callback(lambda future: self.call_soon(self._load_finished, job, wish, future))
        return job

    def cancel_load(self) -> None:
        if self._load_job is not None:
            self._load_job.cancel()

    def _load_finished(self, job: EngineJob[Any], wish: LoadWish, future: Any) -> None:
        if self._load_job is job:
            self._load_job = None
        try:
            outcome, hardware = future.result()
        except Cancelled:
            self.load_cancelled.emit()
            return
        except Exception as exc:
            plan = getattr(exc, "plan", None)
            if plan is not None:
                self.plan = plan
            log.warning("loading %s failed: %s", wish.path.name, type(exc).__name__)
            self.load_failed.emit(exc)
            return
        self.hardware = hardware
        self.facts, self.plan = outcome.facts, outcome.plan
        self.loaded_wish = wish
        # The model's own tokenizer for the context meter and the prompt budget; the engine
        # host has just loaded this very file, so native code here meets nothing new. Said
        # when ready, so the meter counts exactly (and remembers the counts) before a question
        # is sent, not in the send's own turn.
        def warm_counter() -> None:
            token_counter.warm(wish.path)
            self.call_soon(self._counter_warmed, wish)

        threading.Thread(target=warm_counter, name="token-counter", daemon=True).start()
        self.loaded_format = outcome.loaded.chat_format
        self.loaded.emit(outcome)

    def _counter_warmed(self, wish: LoadWish) -> None:
        if self.loaded_wish is wish and not self.closed:
            self.counter_ready.emit()

    def unload(self) -> EngineJob[Any]:
        self.loaded_wish = None
        job = self.queue.submit(lambda _engine, _token: self.local.unload(), name="unload")
        job.future.add_done_callback(lambda _f: self.call_soon(self.unloaded.emit))
        return job

    def needs_reload(self, context: int, chat_format: str) -> bool:
        loaded = self.loaded_wish
        return loaded is None or (loaded.context, loaded.chat_format) != (context, chat_format)

    def token_counter(self) -> TokenCounter | None:
        """The loaded local model's token counter, once its vocabulary is ready (never blocks);
        None for a server or before that (callers estimate)."""
        if self.remote is not None or self.loaded_wish is None:
            return None
        return token_counter.ready_counter(self.loaded_wish.path)

    # ---- failures the session sees ------------------------------------------------------
    def report_crash(self, exc: EngineCrashed) -> None:
        """A request found the host dead: the model is gone; say so once to every observer."""
        self.loaded_wish = None
        self.crashed.emit(exc)

    # ---- closing ------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Shut down (the window closed): nothing more may be queued."""
        return self.queue.closed

    def shutdown(self) -> None:
        self.local.cancel()
        self.queue.close()
        if self.remote is not None:
            self.remote.shutdown()
        self.local.shutdown()

    def _emit(self, signal: Any, *args: Any) -> None:
        self.call_soon(signal.emit, *args)
