"""One queue in front of the engine, shared by the window, the CLI and the local API.

The engine answers one request at a time. Without a queue, whoever grabbed the engine's lock
first would go first, and a burst of API requests could keep the person at the window waiting;
worse, the engine's Stop is one shared flag, so a disconnecting API client could stop the
window's answer. Here every request is a job with its own cancel token:

- window jobs (priority WINDOW) go before waiting API jobs; jobs of one priority go in order;
- cancelling a job that waits removes it; cancelling the job that runs stops only that one
  (the engine's Stop is raised only while that job is the one running);
- at most `max_waiting_api` API jobs wait: the next one is refused at once with QueueFull and a
  Retry-After estimate, which the API turns into HTTP 429.

`activity` tells observers (the window's "API in use" badge) how many API jobs run and wait.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from psygnal import Signal

from app.core.cancel import Cancelled, CancelToken
from app.core.engine.base import Engine
from app.core.errors import PlainError
from app.core.i18n import translate

log = logging.getLogger("enclave.engine.queue")

T = TypeVar("T")

WINDOW = 0  # the person at the window (and the CLI): goes first
DOCUMENTS = 1  # indexing and document search for the window
API = 2  # programs using the local API

DEFAULT_MAX_WAITING_API = 8


class QueueFull(PlainError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"The engine is busy; try again in {retry_after_s} s.")
        self.retry_after_s = retry_after_s


class EngineJob(Generic[T]):
    """A request waiting for, or holding, the engine. `future` has its result."""

    def __init__(
        self, fn: Callable[[Engine, CancelToken], T], priority: int, name: str, sequence: int
    ) -> None:
        self.fn = fn
        self.priority = priority
        self.name = name
        self.sequence = sequence
        self.token = CancelToken()
        self.future: Future[T] = Future()
        self.queue: EngineQueue | None = None

    def cancel(self) -> None:
        """Stop this job: dropped if it still waits, stopped within a token if it runs."""
        self.token.cancel()
        if self.queue is not None:
            self.queue._cancel_job(self)

    def result(self, timeout: float | None = None) -> T:
        return self.future.result(timeout)


class EngineQueue:
    activity = Signal(int, int)  # API jobs running (0 or 1), API jobs waiting

    def __init__(self, engine: Callable[[], Engine], max_waiting_api: int = DEFAULT_MAX_WAITING_API) -> None:
        """`engine` returns the engine to use now (the service may switch local <-> server)."""
        self._engine = engine
        self.max_waiting_api = max_waiting_api
        self._lock = threading.Condition()
        self._waiting: list[EngineJob[Any]] = []
        self._running: EngineJob[Any] | None = None
        self._sequence = itertools.count()
        self._closed = False
        self._api_seconds = 10.0  # running estimate of one API job, for Retry-After
        self._thread = threading.Thread(target=self._work, name="enclave-engine-queue", daemon=True)
        self._thread.start()

    # ---- submitting ---------------------------------------------------------------------
    def submit(
        self, fn: Callable[[Engine, CancelToken], T], *, priority: int = WINDOW, name: str = "job"
    ) -> EngineJob[T]:
        """Queue `fn(engine, token)`; raises QueueFull for an API job past the limit."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine queue is closed")
            job: EngineJob[T] = EngineJob(fn, priority, name, next(self._sequence))
            if priority >= API:
                waiting_api = sum(1 for j in self._waiting if j.priority >= API)
                if waiting_api >= self.max_waiting_api:
                    retry = max(1, int(self._api_seconds * (waiting_api + 1) / 2 + 0.5))
                    raise QueueFull(retry)
            job.queue = self
            self._waiting.append(job)
            self._waiting.sort(key=lambda j: (j.priority, j.sequence))
            self._lock.notify_all()
        self._announce()
        return job

    def run(self, fn: Callable[[Engine, CancelToken], T], *, priority: int = WINDOW, name: str = "job") -> T:
        """Submit and wait (for blocking callers: the CLI, a worker thread)."""
        return self.submit(fn, priority=priority, name=name).result()

    @property
    def api_counts(self) -> tuple[int, int]:
        with self._lock:
            running = 1 if self._running is not None and self._running.priority >= API else 0
            return running, sum(1 for j in self._waiting if j.priority >= API)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running is not None or bool(self._waiting)

    @property
    def closed(self) -> bool:
        """The app is closing: `submit` refuses new work."""
        with self._lock:
            return self._closed

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            dropped, self._waiting = self._waiting, []
            running = self._running
            self._lock.notify_all()
        for job in dropped:
            job.future.set_exception(Cancelled(translate("queue", "The app is closing.")))
        if running is not None:
            running.cancel()
        self._thread.join(timeout)

    # ---- cancelling ---------------------------------------------------------------------
    def _cancel_job(self, job: EngineJob[Any]) -> None:
        with self._lock:
            if job in self._waiting:
                self._waiting.remove(job)
                job.future.set_exception(Cancelled())
                removed = True
            else:
                removed = False
                if self._running is job:
                    # Only while it is the running job: the engine's Stop is shared by all.
                    self._engine().cancel()
        if removed:
            self._announce()

    # ---- the worker ---------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._waiting.pop(0)
                self._running = job
            self._announce()
            started = time.monotonic()
            try:
                if job.token.cancelled:
                    raise Cancelled()
                result = job.fn(self._engine(), job.token)
            except BaseException as exc:  # the caller gets every failure through the future
                if not job.future.done():
                    job.future.set_exception(exc)
            else:
                if not job.future.done():
                    job.future.set_result(result)
            finally:
                with self._lock:
                    self._running = None
                    if job.priority >= API:
                        self._api_seconds = 0.7 * self._api_seconds + 0.3 * (time.monotonic() - started)
                self._announce()

    def _announce(self) -> None:
        running, waiting = self.api_counts
        try:
            self.activity.emit(running, waiting)
        except Exception:  # an observer's bug must not stop the engine
            log.exception("engine activity observer failed")
