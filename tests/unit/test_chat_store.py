from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.core.chat.prompt import build_messages, estimate_tokens
from app.core.chat.store import (
    MIGRATIONS,
    STATUS_ERROR,
    STATUS_INTERRUPTED,
    STATUS_STREAMING,
    ChatStore,
    Message,
    title_from_question,
)


def test_conversations_and_messages_round_trip(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chat.db")
    first = store.create_conversation("First")
    second = store.create_conversation("Second", model_path="/m.gguf", system_prompt="Be brief.")
    store.add_message(first.id, "user", "hello")
    answer = store.add_message(first.id, "assistant", "", status=STATUS_STREAMING)
    store.update_message(answer.id, content="hi there", status="complete", stats={"generated_tokens": 2})
    # Newest activity first: the first conversation got messages after the second was made.
    assert [c.title for c in store.list_conversations()] == ["First", "Second"]
    messages = store.messages(first.id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "hello", "complete"),
        ("assistant", "hi there", "complete"),
    ]
    assert messages[1].stats == {"generated_tokens": 2}
    assert store.get_conversation(second.id).system_prompt == "Be brief."  # type: ignore[union-attr]
    store.update_conversation(second.id, title="Renamed", settings={"temperature": 0.2})
    renamed = store.get_conversation(second.id)
    assert renamed is not None and renamed.title == "Renamed" and renamed.settings == {"temperature": 0.2}
    with pytest.raises(ValueError):
        store.update_conversation(second.id, colour="red")
    store.delete_conversation(first.id)
    assert store.messages(first.id) == []
    assert store.integrity_ok()


def test_schema_version_and_wal(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chat.db")
    store.close()
    raw = sqlite3.connect(tmp_path / "chat.db")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_streaming_message_becomes_interrupted_after_a_crash(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chat.db")
    conversation = store.create_conversation("c")
    message = store.add_message(conversation.id, "assistant", "partial", status=STATUS_STREAMING)
    # No close(): as if the process died.
    reopened = ChatStore(tmp_path / "chat.db")
    assert reopened.messages(conversation.id)[0].status == STATUS_INTERRUPTED
    assert reopened.messages(conversation.id)[0].id == message.id


def test_title_from_first_question() -> None:
    assert title_from_question("  What is\n the capital of France? ") == "What is the capital of France?"
    long = "word " * 40
    title = title_from_question(long)
    assert title.endswith("…") and len(title) <= 61 and not title[:-1].endswith(" ")
    assert title_from_question("   ") == "New chat"


def _message(i: int, role: str, content: str, status: str = "complete") -> Message:
    return Message(i, 1, role, content, status, float(i))


def test_build_messages_keeps_system_and_newest_question_and_drops_oldest() -> None:
    history = [
        _message(i, "user" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * 300) for i in range(10)
    ]
    history.append(_message(10, "user", "newest question"))
    plan = build_messages(history, "You are kind.", n_ctx=600, reserve_for_answer=100)
    assert plan.messages[0] == {"role": "system", "content": "You are kind."}
    assert plan.messages[-1]["content"] == "newest question"
    assert plan.messages[1]["role"] == "user"  # never starts with an orphan answer
    assert plan.dropped_messages > 0
    assert plan.estimated_tokens <= 600 - 100
    kept = [m["content"] for m in plan.messages[1:]]
    assert kept == [m.content for m in history][-len(kept) :]  # a contiguous newest slice


def test_build_messages_skips_failed_and_keeps_an_oversized_question() -> None:
    history = [
        _message(0, "user", "q"),
        _message(1, "assistant", "boom", STATUS_ERROR),
        _message(2, "user", "y" * 10_000),
    ]
    plan = build_messages(history, "", n_ctx=512, reserve_for_answer=64)
    assert [m["content"] for m in plan.messages] == ["y" * 10_000]
    assert estimate_tokens("abc") > 0
