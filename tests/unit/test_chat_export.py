"""Markdown and JSON export of a conversation, and JSON import (round trip and bad files)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.core.chat.export import (
    FORMAT_NAME,
    export_json,
    export_markdown,
    import_json,
    import_json_file,
    suggested_filename,
)
from app.core.chat.store import STATUS_CANCELLED, STATUS_STREAMING, ChatStore

STATS = {
    "generated_tokens": 24,
    "tokens_per_s": 41.23,
    "time_to_first_token_s": 0.072,
    "model": "gemma-3-270m.gguf",
}


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    return ChatStore(tmp_path / "chat.db")


def make_conversation(store: ChatStore) -> int:
    c = store.create_conversation(
        "Capitals", model_path="/models/g/gemma-3-270m.gguf", system_prompt="Be brief."
    )
    store.update_conversation(c.id, settings={"temperature": 0.2})
    q = store.add_message(c.id, "user", "What is the capital of France?")
    store.add_message(c.id, "assistant", "Lyon.", stats={"generated_tokens": 2})  # an old version
    store.add_message(c.id, "assistant", "Paris.", stats=STATS, parent_id=q.id)
    store.add_message(c.id, "user", "And Spain?")
    store.add_message(c.id, "assistant", "Mad", status=STATUS_CANCELLED)
    return c.id


def test_markdown_has_title_model_prompt_turns_and_stats(store: ChatStore) -> None:
    text = export_markdown(store, make_conversation(store))
    assert text.startswith("# Capitals\n")
    assert "- Model: gemma-3-270m.gguf" in text
    assert "## System prompt\n\nBe brief." in text
    assert "## You\n\nWhat is the capital of France?" in text
    assert "## Assistant\n\nParis." in text
    assert "*24 tokens · 41.2 tokens/s · first token 72 ms · gemma-3-270m.gguf*" in text
    assert "Lyon" not in text  # only the active thread
    assert "*stopped by the user*" in text
    assert text.index("France") < text.index("Paris") < text.index("Spain") < text.index("Mad")


def test_json_round_trip(store: ChatStore) -> None:
    conversation_id = make_conversation(store)
    data = export_json(store, conversation_id)
    assert data["format"] == FORMAT_NAME and data["version"] == 2
    assert [m["content"] for m in data["messages"]] == [
        "What is the capital of France?",
        "Lyon.",  # the older version of the first answer travels too
        "Paris.",
        "And Spain?",
        "Mad",
    ]
    data = json.loads(json.dumps(data))  # through a file's worth of JSON
    imported = import_json(store, data)
    assert imported.id != conversation_id
    again = export_json(store, imported.id)
    for key in ("title", "model_path", "system_prompt", "settings", "messages"):
        assert again[key] == data[key], key
    assert store.list_conversations()[0].id == imported.id  # newest first
    thread = store.messages(imported.id)
    assert [m.parent_id for m in thread] == [None] + [m.id for m in thread[:-1]]
    # The new conversation can go on like any other.
    assert store.add_message(imported.id, "user", "more").parent_id == thread[-1].id


def test_json_keeps_every_version_of_every_turn(store: ChatStore) -> None:
    conversation_id = make_conversation(store)
    thread = store.messages(conversation_id)
    # Regenerate the last answer, and edit the second question (with its own answer).
    store.add_message(conversation_id, "assistant", "Madrid.", parent_id=thread[2].id)
    edited = store.add_message(conversation_id, "user", "And Italy?", parent_id=thread[1].id)
    store.add_message(conversation_id, "assistant", "Rome.", parent_id=edited.id)
    store.switch_to(thread[3].id)  # the first answer to "And Spain?" is on screen
    shown = [m.content for m in store.messages(conversation_id)]

    data = json.loads(json.dumps(export_json(store, conversation_id)))
    assert len(data["messages"]) == 8
    imported = import_json(store, data)
    assert [m.content for m in store.messages(imported.id)] == shown  # same thread on screen
    tree = {(m.content, store.get_message(m.parent_id).content if m.parent_id else None)
            for m in store.all_messages(imported.id)}
    original = {(m.content, store.get_message(m.parent_id).content if m.parent_id else None)
                for m in store.all_messages(conversation_id)}
    assert tree == original  # the same tree: each version under the same turn
    spain = next(m for m in store.messages(imported.id) if m.content == "And Spain?")
    assert [m.content for m in store.siblings(spain.id)] == ["And Spain?", "And Italy?"]


def test_version_1_files_are_still_read_as_one_thread(store: ChatStore) -> None:
    data = good()
    data["messages"].append({"role": "assistant", "content": "hello"})
    imported = import_json(store, data)
    thread = store.messages(imported.id)
    assert [m.content for m in thread] == ["hi", "hello"]
    assert thread[1].parent_id == thread[0].id


def test_import_file_and_streaming_becomes_interrupted(store: ChatStore, tmp_path: Path) -> None:
    data = {
        "format": FORMAT_NAME,
        "version": 1,
        "title": "",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "he", "status": STATUS_STREAMING},
        ],
        "something_new": True,
    }
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    imported = import_json_file(store, path)
    assert imported.title == "Imported chat"
    assert [m.status for m in store.messages(imported.id)] == ["complete", "interrupted"]


def good() -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": 1,
        "title": "t",
        "model_path": "",
        "system_prompt": "",
        "settings": {},
        "messages": [{"role": "user", "content": "hi", "status": "complete", "stats": {}}],
    }


def broken(change: str) -> Any:
    data = copy.deepcopy(good())
    if change == "not a dict":
        return [data]
    if change == "no format":
        del data["format"]
    elif change == "other format":
        data["format"] = "chatgpt-export"
    elif change == "newer version":
        data["version"] = 3
    elif change == "v2 without ids":
        data["version"] = 2
    elif change == "v2 parent after child":
        data["version"] = 2
        data["messages"][0].update(id=1, parent=2)
        data["messages"].append({"id": 2, "parent": None, "role": "assistant", "content": "x"})
    elif change == "v2 current unknown":
        data["version"] = 2
        data["messages"][0].update(id=1, parent=None)
        data["current"] = 9
    elif change == "version text":
        data["version"] = "1"
    elif change == "no messages":
        del data["messages"]
    elif change == "messages not a list":
        data["messages"] = {"role": "user"}
    elif change == "bad role":
        data["messages"][0]["role"] = "tool"
    elif change == "content not text":
        data["messages"][0]["content"] = 3
    elif change == "message not an object":
        data["messages"].append("hello")
    elif change == "bad status":
        data["messages"][0]["status"] = "done"
    elif change == "stats not object":
        data["messages"][0]["stats"] = [1]
    elif change == "title not text":
        data["title"] = None
    elif change == "settings not object":
        data["settings"] = "x"
    elif change == "created_at text":
        data["messages"][0]["created_at"] = "yesterday"
    return data


@pytest.mark.parametrize(
    "change",
    [
        "not a dict",
        "no format",
        "other format",
        "newer version",
        "v2 without ids",
        "v2 parent after child",
        "v2 current unknown",
        "version text",
        "no messages",
        "messages not a list",
        "bad role",
        "content not text",
        "message not an object",
        "bad status",
        "stats not object",
        "title not text",
        "settings not object",
        "created_at text",
    ],
)
def test_bad_files_say_what_is_wrong_and_add_nothing(store: ChatStore, change: str) -> None:
    with pytest.raises(ValueError) as error:
        import_json(store, broken(change))
    message = str(error.value)
    assert message and message[0].isupper() and "Traceback" not in message
    assert store.list_conversations() == []
    assert import_json(store, good()).title == "t"  # the good one is fine


def test_newer_version_asks_for_an_update(store: ChatStore) -> None:
    with pytest.raises(ValueError, match="newer Enclave"):
        import_json(store, broken("newer version"))


def test_unreadable_and_non_json_files(store: ChatStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Could not read"):
        import_json_file(store, tmp_path / "missing.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff\xfe not json {")
    with pytest.raises(ValueError, match="not a JSON file"):
        import_json_file(store, garbage)
    with pytest.raises(ValueError):
        export_json(store, 12345)


def test_suggested_filename_is_safe(store: ChatStore) -> None:
    c = store.create_conversation('What is a/b "quoted" <thing>?')
    assert suggested_filename(c, ".md") == "What is a b quoted thing.md"
    assert suggested_filename(store.create_conversation(""), ".json") == "Conversation.json"
