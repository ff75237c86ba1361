"""The one queue in front of the engine: the window goes first, a cancelled job that waits is
dropped (a queued load's Cancel is never lost), stopping one job never stops another, and API
jobs past the limit are refused with a Retry-After estimate."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from app.core.calls import CallQueue
from app.core.cancel import Cancelled
from app.core.engine.client import EngineClient
from app.core.engine.queue import API, DOCUMENTS, WINDOW, EngineQueue, QueueFull
from app.core.engine.service import EngineService


class CountingEngine:
    """Only what the queue itself calls on an engine: cancel()."""

    def __init__(self) -> None:
        self.cancels = 0

    def cancel(self) -> None:
        self.cancels += 1


@pytest.fixture
def queue() -> Any:
    engine = CountingEngine()
    q = EngineQueue(lambda: engine, max_waiting_api=2)  # type: ignore[arg-type, return-value]
    q.engine = engine  # type: ignore[attr-defined]
    yield q
    q.close()


def test_order_window_first_then_documents_then_api(queue: Any) -> None:
    release = threading.Event()
    order: list[str] = []
    blocker = queue.submit(lambda _e, _t: release.wait(10), priority=API, name="running")
    jobs = [
        queue.submit(lambda _e, _t, n=name: order.append(n), priority=priority, name=name)
        for name, priority in (("api", API), ("docs", DOCUMENTS), ("window", WINDOW), ("window2", WINDOW))
    ]
    release.set()
    for job in [blocker, *jobs]:
        job.result(10)
    assert order == ["window", "window2", "docs", "api"]


def test_cancelling_a_waiting_job_drops_it_and_stops_nothing_else(queue: Any) -> None:
    release = threading.Event()
    running = queue.submit(lambda _e, _t: release.wait(10), priority=WINDOW)
    waiting = queue.submit(lambda _e, _t: "never", priority=API)
    waiting.cancel()
    with pytest.raises(Cancelled):
        waiting.result(5)
    assert queue.engine.cancels == 0  # the running window job was not stopped
    release.set()
    assert running.result(10) is True


def test_cancelling_the_running_job_stops_the_engine_once(queue: Any) -> None:
    started = threading.Event()

    def work(_engine: Any, token: Any) -> str:
        started.set()
        token.wait(10)
        return "stopped"

    job = queue.submit(work, priority=API)
    assert started.wait(5)
    job.cancel()
    assert job.result(10) == "stopped"
    assert queue.engine.cancels == 1


def test_api_jobs_past_the_limit_get_429_with_retry_after(queue: Any) -> None:
    release = threading.Event()
    queue.submit(lambda _e, _t: release.wait(10), priority=WINDOW)
    queue.submit(lambda _e, _t: None, priority=API)
    queue.submit(lambda _e, _t: None, priority=API)
    assert queue.api_counts == (0, 2)
    with pytest.raises(QueueFull) as full:
        queue.submit(lambda _e, _t: None, priority=API)
    assert full.value.retry_after_s >= 1
    queue.submit(lambda _e, _t: None, priority=WINDOW)  # the window is never refused
    release.set()


def test_a_queued_load_that_is_cancelled_never_loads(chat_model_path: Path, tmp_path: Path) -> None:
    calls = CallQueue()
    service = EngineService(EngineClient(log_path=tmp_path / "host.log"), call_soon=calls)
    events: list[str] = []
    service.loaded.connect(lambda _o: events.append("loaded"))
    service.load_cancelled.connect(lambda: events.append("cancelled"))
    release = threading.Event()
    try:
        service.queue.submit(lambda _e, _t: release.wait(10), priority=WINDOW)  # an answer, say
        service.load(chat_model_path, 1024)
        service.cancel_load()  # Cancel pressed while the load still waits its turn
        release.set()
        calls.run_until(lambda: bool(events), timeout=30)
        assert events == ["cancelled"]
        assert not service.is_ready and not service.is_loading
    finally:
        service.shutdown()
