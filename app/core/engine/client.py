"""The app's side of the engine: starts the host process, sends one request at a time, streams
replies back, and notices at once when the host dies.

Blocking methods (load, chat, embed, unload) are meant for a worker thread; `cancel()` may be
called from any thread and takes effect between two tokens, or inside llama.cpp's prompt
evaluation through its abort callback. If the host process dies (a native crash, SIGKILL, an
out-of-memory abort) the blocking call raises EngineCrashed with the host's last log lines, and
the next call starts a fresh host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TypeVar

from app.core import paths
from app.core.cancel import Cancelled, CancelToken
from app.core.engine import protocol as p
from app.core.engine.base import LOCAL_PLACE, ClientChatStats, EngineCrashed, EngineError
from app.core.engine.crash_cause import crash_sentence, explain_crash
from app.core.i18n import translate

log = logging.getLogger("enclave.engine.client")

STARTUP_TIMEOUT_S = 120.0
LOG_LINES_ON_CRASH = 12
# How far back the cause of a crash is looked for: after an assert ggml may print a backtrace.
LOG_LINES_FOR_CAUSE = 400

T = TypeVar("T")


@contextlib.contextmanager
def _main_script_not_reimported() -> Iterator[None]:
    """A "spawn" child normally re-runs the parent's main script (as __mp_main__) before it
    starts; the host needs nothing from it, and a script without an `if __name__ == "__main__"`
    guard (a user's script, a benchmark) would start a second app. Hiding the script's path
    while the child is prepared makes the child skip it. `python -m app` (a module spec) and
    frozen apps are unaffected."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class EngineClient:
    def __init__(self, log_path: Path | None = None) -> None:
        self.log_path = log_path or paths.log_dir() / "engine-host.log"
        self._ctx = multiprocessing.get_context("spawn")
        self._cancel = p.CancelFlag(self._ctx)
        self._lock = threading.Lock()  # one request at a time
        self._process: Any = None
        self._conn: Connection | None = None
        self.host_pid: int | None = None
        self.loaded: p.Loaded | None = None
        self._killed_on_purpose = False  # kill_host() was called: not a crash to explain
        self._loading = ""  # the model a load request is for, named if the host dies on it

    # ---- what base.Engine asks ----------------------------------------------------------
    is_remote = False
    where = LOCAL_PLACE

    @property
    def model_name(self) -> str:
        return Path(self.loaded.model_path).name if self.loaded is not None else ""

    @property
    def is_ready(self) -> bool:
        return self.loaded is not None and self.is_running

    def list_models(self) -> list[str]:
        """The model loaded now (the local engine serves one chat model at a time)."""
        return [self.model_name] if self.model_name else []

    # ---- process lifecycle --------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        """Start the host if it is not running (blocking until it says it is ready)."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> None:
        if self.is_running:
            return
        self._discard_process()
        self._killed_on_purpose = False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        from app.core.engine.host import host_main

        process = self._ctx.Process(
            target=host_main,
            args=(child_conn, self._cancel, str(self.log_path), os.getpid()),
            name="enclave-engine-host",
            daemon=True,
        )
        with _main_script_not_reimported():
            process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn
        reply = self._receive(timeout=STARTUP_TIMEOUT_S)
        if isinstance(reply, p.EngineError):
            raise EngineError(reply.kind, p.shown(reply.sentence, reply.message))
        if not isinstance(reply, p.HostReady):
            raise EngineError(p.ERROR_INTERNAL, f"Unexpected first message {reply!r}")
        self.host_pid = reply.pid
        log.info("engine host %d ready (llama-cpp-python %s)", reply.pid, reply.llama_cpp_version)

    def _discard_process(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._process = None
        self._conn = None
        self.host_pid = None
        self.loaded = None

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the host politely, then firmly."""
        self._cancel.set()
        with self._lock:
            if self._process is None:
                return
            if self.is_running and self._conn is not None:
                try:
                    self._conn.send(p.ShutdownRequest())
                except OSError:
                    pass
                self._process.join(timeout)
            self._discard_process()
        self._cancel.clear()

    def kill_host(self) -> None:
        """For tests and 'Force stop': kill the host the hard way."""
        if self._process is not None and self._process.pid:
            self._killed_on_purpose = True
            os.kill(self._process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = LOG_LINES_ON_CRASH) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(getattr(self, "_log_offset", 0))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    # ---- messaging ----------------------------------------------------------------------
    def _receive(self, timeout: float | None = None) -> p.Reply:
        """Next reply from the host, or EngineCrashed the moment the process dies."""
        assert self._conn is not None and self._process is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait([self._conn, self._process.sentinel], timeout=remaining)
            if self._conn in ready:
                try:
                    return self._conn.recv()
                except (EOFError, OSError):
                    pass  # the host died while sending; handled below
            if ready or not self._process.is_alive():
                self._process.join(2)
                raise self._crashed(self._process.exitcode)
            if deadline is not None and time.monotonic() >= deadline:
                raise self._crashed(None)

    def _crashed(self, code: int | None) -> EngineCrashed:
        """The host is gone (or silent, code None): say why, from its exit and its log."""
        cause = explain_crash(
            code, self.log_tail(LOG_LINES_FOR_CAUSE), killed_on_purpose=self._killed_on_purpose
        )
        model = self._loading or self.model_name
        tail = self.log_tail()
        self._discard_process()
        log.warning("engine host ended: %s (exit %s)", cause.kind, code)
        return EngineCrashed(crash_sentence(cause, model, loading=bool(self._loading)), tail, code, cause)

    def _request(self, request: p.Request, on_reply: Callable[[p.Reply], None] | None = None) -> p.Reply:
        """Send one request; pass intermediate replies to on_reply; return the final one."""
        self._ensure_started()
        assert self._conn is not None
        try:
            self._conn.send(request)
        except OSError:
            pass  # the host is dead; _receive reports how it died
        while True:
            reply = self._receive()
            if isinstance(reply, (p.LoadProgress, p.TokenBatch)):
                if on_reply is not None:
                    on_reply(reply)
                continue
            if isinstance(reply, p.EngineError):
                message = _error_words(reply, getattr(request, "model_path", ""))
                if reply.details.get("cancelled"):
                    raise Cancelled(message)
                raise EngineError(reply.kind, message)
            return reply

    # ---- the API ------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the current load or answer as soon as possible. Safe from any thread."""
        self._cancel.set()

    def load(
        self,
        request: p.LoadRequest,
        on_progress: Callable[[float], None] | None = None,
    ) -> p.Loaded:
        def forward(reply: p.Reply) -> None:
            if on_progress is not None and isinstance(reply, p.LoadProgress):
                on_progress(reply.fraction)

        with self._lock:
            self._cancel.clear()
            self._loading = Path(request.model_path).name
            try:
                reply = self._request(request, forward)
            finally:
                self._loading = ""
            assert isinstance(reply, p.Loaded)
            if reply.notice_sentence is not None:  # in the window's language
                reply = dataclasses.replace(reply, notice=p.shown(reply.notice_sentence, reply.notice))
            self.loaded = reply
            return reply

    def chat(
        self,
        messages: list[dict[str, str]],
        sampling: p.SamplingParams | None = None,
        on_tokens: Callable[[str], None] | None = None,
        cache_key: str | None = None,
        stop: CancelToken | None = None,
        extras: p.ChatExtras | None = None,
    ) -> tuple[str, ClientChatStats]:
        """Stream one answer. Returns the whole text and the stats (engine's and client's).

        cache_key names the conversation, so the host can keep its KV cache when another
        conversation uses the model in between. `stop`, if given and already cancelled when the
        request starts (Stop pressed while it queued), ends the answer at once."""
        request = p.ChatRequest(
            messages=messages,
            sampling=sampling or p.SamplingParams(),
            cache_key=cache_key,
            extras=extras or p.ChatExtras(),
        )
        return self._generate(request, on_tokens, stop)

    def complete(
        self,
        prompt: str,
        sampling: p.SamplingParams | None = None,
        on_tokens: Callable[[str], None] | None = None,
        stop: CancelToken | None = None,
        extras: p.ChatExtras | None = None,
    ) -> tuple[str, ClientChatStats]:
        """Continue `prompt` as plain text (no chat template)."""
        request = p.CompletionRequest(
            prompt=prompt, sampling=sampling or p.SamplingParams(), extras=extras or p.ChatExtras()
        )
        return self._generate(request, on_tokens, stop)

    def _generate(
        self,
        request: p.ChatRequest | p.CompletionRequest,
        on_tokens: Callable[[str], None] | None,
        stop: CancelToken | None,
    ) -> tuple[str, ClientChatStats]:
        arrivals: list[tuple[float, int]] = []
        pieces: list[str] = []

        def forward(reply: p.Reply) -> None:
            if isinstance(reply, p.TokenBatch):
                arrivals.append((time.perf_counter(), reply.n_tokens))
                pieces.append(reply.text)
                if on_tokens is not None:
                    on_tokens(reply.text)

        with self._lock:
            if self.loaded is None and self.is_running is False:
                raise EngineError(p.ERROR_NOT_LOADED, translate("client", "No model is loaded."))
            self._cancel.clear()
            if stop is not None and stop.cancelled:
                self._cancel.set()  # the host stops at its first check and reports "cancelled"
            model = self.model_name
            sent = time.perf_counter()
            try:
                reply = self._request(request, forward)
            except EngineError as exc:
                exc.partial_text = "".join(pieces)
                raise
            done = time.perf_counter()
        assert isinstance(reply, p.ChatDone)
        self._note_speed(reply.stats)
        return reply.text, ClientChatStats(
            engine=reply.stats,
            time_to_first_token_s=(arrivals[0][0] - sent) if arrivals else done - sent,
            client_tokens_per_s=_client_rate(arrivals),
            total_s=done - sent,
            source=LOCAL_PLACE,
            model=model,
        )

    def _note_speed(self, stats: p.ChatStats) -> None:
        """Measured vs predicted speed of this answer, logged and kept (app.core.speed.record)."""
        loaded = self.loaded
        if loaded is not None:
            from app.core.speed.record import observe_in_background

            observe_in_background(loaded.model_path, loaded.n_gpu_layers, stats)

    def embed(
        self, texts: list[str], model_path: Path | str | None = None, kind: str = "document"
    ) -> list[list[float]]:
        path = str(model_path or paths.default_embedding_model())
        with self._lock:
            self._cancel.clear()
            reply = self._request(p.EmbedRequest(model_path=path, texts=list(texts), kind=kind))
        assert isinstance(reply, p.Embeddings)
        return reply.vectors

    def unload(self) -> None:
        with self._lock:
            if not self.is_running:
                self.loaded = None
                return
            self._request(p.UnloadRequest())
            self.loaded = None


def _error_words(reply: p.EngineError, model_path: str) -> str:
    """What a host's error says, in the window's language (the host has no translator)."""
    if reply.details.get(p.HEADER_REFUSED) and model_path:
        # gguf_facts wrote it in the host, in English: its header check again, here, says it
        # in the window's language (a file that reads fine now keeps the host's words).
        from app.core.gguf_facts import GGUFError, read_model_facts

        try:
            read_model_facts(model_path)
        except GGUFError as exc:
            return str(exc)
        except Exception:  # noqa: BLE001 - only the words are at stake; the host's are right
            pass
    return p.shown(reply.sentence, reply.message)


def _client_rate(arrivals: list[tuple[float, int]]) -> float:
    """Tokens per second as the client sees them, not counting the wait for the first token."""
    if len(arrivals) < 2:
        return 0.0
    tokens_after_first = sum(n for _, n in arrivals) - arrivals[0][1]
    span = arrivals[-1][0] - arrivals[0][0]
    return tokens_after_first / span if span > 0 else 0.0
