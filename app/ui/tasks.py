"""The one way to run core work off the GUI thread.

Widgets describe work as a function `fn(progress, cancel) -> result` and hand it to
`run_task`; it runs on a thread pool and its progress, result and error come back as Qt
signals on the GUI thread. Widgets never create threads themselves.

Two pools: ENGINE (one thread: the engine host serves one request at a time, so requests
queue in order) and IO (several threads: searches, downloads, hashing, indexing, file reads).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from app.core.cancel import Cancelled, CancelToken
from app.core.errors import PlainError

log = logging.getLogger("enclave.ui.tasks")

ProgressFn = Callable[[Any], None]
TaskFn = Callable[[ProgressFn, CancelToken], Any]

_pools: dict[str, QThreadPool] = {}


def pool(name: str) -> QThreadPool:
    if name not in _pools:
        new_pool = QThreadPool()
        new_pool.setMaxThreadCount(1 if name == "engine" else 8)
        new_pool.setObjectName(f"enclave-{name}")
        _pools[name] = new_pool
    return _pools[name]


class TaskHandle(QObject):
    """Signals of one task, delivered on the GUI thread; keep the handle to cancel it.

    The worker emits the private `_from_worker_*` signals; they reach this object (which lives
    on the GUI thread) through queued connections and are re-emitted as the public signals, so
    even a plain Python function or lambda connected to them runs on the GUI thread.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()

    _from_worker_progress = Signal(object)
    _from_worker_succeeded = Signal(object)
    _from_worker_failed = Signal(object)
    _from_worker_cancelled = Signal()
    _from_worker_finished = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.token = CancelToken()
        self.running = True
        queued = Qt.ConnectionType.QueuedConnection
        self._from_worker_progress.connect(self.progress, queued)
        self._from_worker_succeeded.connect(self.succeeded, queued)
        self._from_worker_failed.connect(self.failed, queued)
        self._from_worker_cancelled.connect(self.cancelled, queued)
        self._from_worker_finished.connect(self.finished, queued)

    def cancel(self) -> None:
        self.token.cancel()

    def _mark_done(self) -> None:
        self.running = False
        _live_handles.discard(self)


# Handles stay referenced until finished, so a caller may drop theirs without losing signals.
_live_handles: set[TaskHandle] = set()


class _Runnable(QRunnable):
    def __init__(self, fn: TaskFn, handle: TaskHandle) -> None:
        super().__init__()
        self.fn = fn
        self.handle = handle
        self.setAutoDelete(True)

    def run(self) -> None:
        handle = self.handle
        try:
            outcome: tuple[str, Any] = ("ok", self.fn(_safe(handle._from_worker_progress.emit), handle.token))
        except Cancelled:
            outcome = ("cancelled", None)
        except PlainError as exc:  # expected and explained (no internet, bad file): one line
            log.warning("task %s: %s", handle.name, exc)
            outcome = ("failed", exc)
        except Exception as exc:  # report every failure to the widget; log the traceback
            log.error("task %s failed: %s\n%s", handle.name, exc, traceback.format_exc())
            outcome = ("failed", exc)
        if outcome[0] == "ok" and handle.token.cancelled:
            outcome = ("cancelled", None)
        # Not running any more as soon as the outcome is known: a slot reacting to the outcome
        # may start the next task at once (e.g. "Reload model" right after a crash).
        handle.running = False
        try:
            if outcome[0] == "ok":
                handle._from_worker_succeeded.emit(outcome[1])
            elif outcome[0] == "failed":
                handle._from_worker_failed.emit(outcome[1])
            else:
                handle._from_worker_cancelled.emit()
            handle._from_worker_finished.emit()
        except RuntimeError:
            pass  # the app is closing and the handle is gone: nobody is listening


def _safe(emit: Callable[[Any], None]) -> Callable[[Any], None]:
    def emit_if_alive(value: Any) -> None:
        try:
            emit(value)
        except RuntimeError:
            pass  # the receiver was deleted while the app closes

    return emit_if_alive


def _unless_gone(callback: Callable[..., None], name: str) -> Callable[..., None]:
    """The widget that asked for the work may be closed before the answer comes (a page torn
    down, the window closed): then there is nobody to tell, and that is fine."""

    def call(*args: Any) -> None:
        try:
            callback(*args)
        except RuntimeError as exc:
            if "already deleted" not in str(exc):
                raise
            log.debug("task %s finished after its widget was closed", name)

    return call


def run_task(
    fn: TaskFn,
    *,
    name: str = "task",
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    pool_name: str = "io",
) -> TaskHandle:
    handle = TaskHandle(name)
    if on_result:
        handle.succeeded.connect(_unless_gone(on_result, name))
    if on_error:
        handle.failed.connect(_unless_gone(on_error, name))
    if on_progress:
        handle.progress.connect(_unless_gone(on_progress, name))
    if on_cancelled:
        handle.cancelled.connect(_unless_gone(on_cancelled, name))
    if on_finished:
        handle.finished.connect(_unless_gone(on_finished, name))
    # Last, so it runs after the caller's on_finished: dropping the handle from _live_handles
    # may free it, and Qt calls no further slots of a freed sender.
    handle.finished.connect(handle._mark_done)
    _live_handles.add(handle)
    pool(pool_name).start(_Runnable(fn, handle))
    return handle


def wait_for_all(timeout_ms: int = 10_000) -> None:
    for each in _pools.values():
        each.waitForDone(timeout_ms)
