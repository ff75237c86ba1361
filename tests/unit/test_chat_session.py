"""A whole conversation driven through the core ChatSession, with no Qt imported: send, stream,
save while streaming, stop, edit, regenerate with versions, the context budget, and a crash of
the engine. The engine is the real one (child process, llama-cpp-python, SmolLM2 135M Instruct);
the session's callbacks are pumped from a CallQueue, as a CLI would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.calls import CallQueue
from app.core.chat.session import ChatSession
from app.core.chat.store import (
    STATUS_CANCELLED,
    STATUS_COMPLETE,
    STATUS_INTERRUPTED,
    STATUS_STREAMING,
    ChatStore,
)
from app.core.engine import protocol as p
from app.core.engine.base import EngineCrashed
from app.core.engine.client import EngineClient
from app.core.engine.service import EngineService

pytestmark = pytest.mark.e2e


class Recorder:
    """Every event of the session, in order, as (name, args)."""

    def __init__(self, session: ChatSession) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        for name in (
            "conversation_changed",
            "thread_changed",
            "message_added",
            "answer_started",
            "answer_tokens",
            "answer_finished",
            "answer_failed",
            "busy_changed",
            "notice",
            "conversations_changed",
        ):
            getattr(session, name).connect(self._recorder(name))

    def _recorder(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.events.append((name, args))

        return record

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def last(self, name: str) -> tuple[Any, ...]:
        return next(args for n, args in reversed(self.events) if n == name)

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.events if n == name)


@pytest.fixture(scope="module")
def loaded_service(instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    calls = CallQueue()
    log = tmp_path_factory.mktemp("engine") / "engine-host.log"
    service = EngineService(EngineClient(log_path=log), call_soon=calls)
    loaded: list[Any] = []
    service.loaded.connect(loaded.append)
    service.load(instruct_model_path, 2048)
    calls.run_until(lambda: bool(loaded), timeout=120)
    yield service, calls
    service.shutdown()


@pytest.fixture
def chat(loaded_service: Any, tmp_path: Path) -> Iterator[tuple[ChatSession, CallQueue, Recorder]]:
    service, calls = loaded_service
    if not service.is_ready:  # a test before this one crashed the engine on purpose
        loaded: list[Any] = []
        service.loaded.connect(loaded.append)
        service.load(service.model_path, 2048)
        calls.run_until(lambda: bool(loaded), timeout=120)
        service.loaded.disconnect(loaded.append)
    store = ChatStore(tmp_path / "enclave.db")
    session = ChatSession(store, service, call_soon=calls)
    session.base_sampling = p.SamplingParams(max_tokens=24, seed=3, temperature=0.0)
    yield session, calls, Recorder(session)
    session.close()
    store.close()


def wait_idle(session: ChatSession, calls: CallQueue, timeout: float = 60) -> None:
    calls.run_until(lambda: not session.busy, timeout=timeout)


def test_the_session_and_the_engine_import_no_qt() -> None:
    """(pytest-qt loads Qt into this process, so the check runs in a fresh interpreter.)"""
    code = (
        "import sys, app.core.chat.session, app.core.engine.service, app.core.engine.client, "
        "app.core.calls; bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_send_streams_saves_and_finishes(chat: tuple[ChatSession, CallQueue, Recorder]) -> None:
    session, calls, events = chat
    assert session.conversation_id is None
    assert session.send("Name three colours.")
    assert session.busy and session.conversation_id is not None
    assert events.names()[:4] == ["conversation_changed", "message_added", "busy_changed", "answer_started"]
    wait_idle(session, calls)

    (answer,) = events.last("answer_finished")
    assert answer.status == STATUS_COMPLETE and answer.content
    streamed = "".join(text for name, (m, text) in [(n, a) for n, a in events.events if n == "answer_tokens"])
    assert streamed == answer.content
    assert answer.stats["generated_tokens"] > 0 and answer.stats["source"] == "this computer"
    assert answer.stats["model"].endswith(".gguf")
    thread = session.thread()
    assert [m.role for m in thread] == ["user", "assistant"]
    assert thread[1].content == answer.content and thread[1].status == STATUS_COMPLETE
    assert session.store.draft_text(answer.id) == ""  # pieces are gone once the text is whole
    assert events.last("busy_changed") == (False,)

    # The budget after an answer is the engine's own count.
    budget = session.context_budget()
    assert budget is not None and budget.exact and budget.n_ctx == 2048
    assert budget.used_tokens == answer.stats["prompt_tokens"] + answer.stats["generated_tokens"]


def test_streaming_answer_is_saved_in_pieces_while_it_streams(
    chat: tuple[ChatSession, CallQueue, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    session, calls, events = chat
    monkeypatch.setattr("app.core.chat.session.SAVE_INTERVAL_S", 0.0)  # save at every batch
    session.base_sampling = p.SamplingParams(max_tokens=64, seed=3, temperature=0.0)
    saved_during: list[str] = []

    def peek(message: Any, _text: str) -> None:
        saved_during.append(session.store.draft_text(message.id))
        row = session.store.get_message(message.id)
        assert row is not None and row.status == STATUS_STREAMING and row.content == ""

    session.answer_tokens.connect(peek)
    session.send("Count from one to twenty in words.")
    wait_idle(session, calls)
    (answer,) = events.last("answer_finished")
    # Each save appended text: what was saved grew, and the end is the whole answer.
    assert len(saved_during) >= 2 and saved_during == sorted(saved_during, key=len)
    assert answer.content.startswith(saved_during[-1])


def test_stop_keeps_the_text_and_marks_it(chat: tuple[ChatSession, CallQueue, Recorder]) -> None:
    session, calls, events = chat
    session.base_sampling = p.SamplingParams(max_tokens=1500, seed=3)
    session.answer_tokens.connect(lambda *_a: session.stop())
    session.send("Write a very long story about the sea.")
    wait_idle(session, calls, timeout=30)
    (answer,) = events.last("answer_finished")
    assert answer.status == STATUS_CANCELLED
    assert answer.content and answer.stats["generated_tokens"] < 200
    assert session.thread()[-1].status == STATUS_CANCELLED


def test_edit_and_regenerate_make_versions(chat: tuple[ChatSession, CallQueue, Recorder]) -> None:
    session, calls, events = chat
    session.send("What is the capital of France?")
    wait_idle(session, calls)
    question, first_answer = session.thread()

    session.base_sampling = p.SamplingParams(max_tokens=24, seed=11, temperature=1.0)
    assert session.regenerate(first_answer)
    wait_idle(session, calls)
    assert events.count("thread_changed") == 1
    _, second_answer = session.thread()
    assert second_answer.id != first_answer.id and second_answer.status == STATUS_COMPLETE
    assert session.versions_of(second_answer) == (2, 2)

    assert session.switch_version(second_answer, -1)
    assert session.thread()[1].id == first_answer.id

    assert session.edit_and_resend(question, "What is the capital of Italy?")
    wait_idle(session, calls)
    edited, third_answer = session.thread()
    assert edited.content == "What is the capital of Italy?" and edited.parent_id is None
    assert session.versions_of(edited) == (2, 2)
    assert third_answer.parent_id == edited.id
    # The first question still has both of its answers.
    assert session.switch_version(edited, -1)
    assert [m.id for m in session.thread()] == [question.id, second_answer.id]


def test_a_new_chat_with_a_server_warns_before_the_first_message(
    chat: tuple[ChatSession, CallQueue, Recorder],
) -> None:
    session, _calls, _events = chat
    assert session.destination_notice() is None  # this computer answers


def test_engine_crash_keeps_the_partial_answer_and_says_why(
    chat: tuple[ChatSession, CallQueue, Recorder],
) -> None:
    session, calls, events = chat
    service = session.service
    crashed: list[Any] = []
    service.crashed.connect(crashed.append)
    session.base_sampling = p.SamplingParams(max_tokens=1500, seed=3)
    killed: list[int] = []

    def kill_after_some_text(_message: Any, _text: str) -> None:
        pid = service.local.host_pid
        if not killed and pid:
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    session.answer_tokens.connect(kill_after_some_text)
    session.send("Write a very long story about the sea.")
    wait_idle(session, calls, timeout=30)
    (answer,) = events.last("answer_finished")
    failed_message, exc = events.last("answer_failed")
    assert isinstance(exc, EngineCrashed) and "SIGKILL" in exc.message
    assert answer.status == STATUS_INTERRUPTED and answer.content
    assert session.store.get_message(answer.id).content == answer.content  # type: ignore[union-attr]
    calls.run_pending()
    assert crashed and not service.is_ready
    assert not session.send("Are you there?")  # nothing answers until the model is loaded again


def test_a_crash_of_the_app_keeps_the_saved_pieces(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "crash.db")
    conversation = store.create_conversation("c")
    store.add_message(conversation.id, "user", "q")
    answer = store.add_message(conversation.id, "assistant", "", status=STATUS_STREAMING)
    store.append_draft(answer.id, "Hello, ")
    store.append_draft(answer.id, "world")
    store.close()  # the app died here: no finish_message
    reopened = ChatStore(tmp_path / "crash.db")
    message = reopened.get_message(answer.id)
    assert message is not None and message.content == "Hello, world"
    assert message.status == STATUS_INTERRUPTED
    assert reopened.integrity_ok()
    reopened.close()


def test_the_engine_says_when_its_token_counter_is_ready(instruct_model_path: Path, tmp_path: Path) -> None:
    """The context meter counts exactly (and remembers the counts) once the model's vocabulary
    is loaded, not first in the turn a question is sent."""
    calls = CallQueue()
    service = EngineService(EngineClient(log_path=tmp_path / "engine-host.log"), call_soon=calls)
    counters: list[Any] = []
    service.counter_ready.connect(lambda: counters.append(service.token_counter()))
    try:
        service.load(instruct_model_path, 2048)
        calls.run_until(lambda: bool(counters), timeout=120)
        assert counters[0] is not None and counters[0]("Hello there") > 0
    finally:
        service.shutdown()
