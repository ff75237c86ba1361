"""A conversation as Markdown (to read or share) or as JSON (to move between computers).

Markdown holds the thread on screen. The JSON format ("enclave-conversation", version 2) holds
the whole conversation, every version of every turn (edited questions, regenerated answers):

    {
      "format": "enclave-conversation",
      "version": 2,
      "exported_at": 1718000000.0,            # seconds since the epoch (informative)
      "title": "What is the capital of France?",
      "model_path": "/models/owner/repo/model.gguf",
      "system_prompt": "",
      "settings": {},                          # per-conversation settings, free-form object
      "created_at": 1717990000.0,             # optional
      "current": 4,                            # id of the last message of the thread on screen
      "messages": [                            # parents before children
        {"id": 1, "parent": null,              # ids are the file's own, 1, 2, 3...
         "role": "user" | "assistant" | "system", "content": "...",
         "status": "complete" | "cancelled" | "interrupted" | "error",
         "created_at": 1717990001.0, "stats": {...}}
      ]
    }

Version 1 (Enclave before this format) had no "id", "parent" or "current": its messages are
one thread in order, and it is still read. `import_json` accepts exactly these (unknown extra
keys are ignored, so later minor additions stay readable) and refuses anything else with a
ValueError a person can read.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
from pathlib import Path
from typing import Any

from app.core.chat.store import (
    STATUS_CANCELLED,
    STATUS_COMPLETE,
    STATUS_ERROR,
    STATUS_INTERRUPTED,
    STATUS_STREAMING,
    ChatStore,
    Conversation,
    ImportedMessage,
)

FORMAT_NAME = "enclave-conversation"
FORMAT_VERSION = 2
ROLES = ("system", "user", "assistant")
STATUSES = (STATUS_COMPLETE, STATUS_STREAMING, STATUS_INTERRUPTED, STATUS_CANCELLED, STATUS_ERROR)
ROLE_TITLES = {"user": "You", "assistant": "Assistant", "system": "System"}
STATUS_NOTES = {
    STATUS_CANCELLED: "stopped by the user",
    STATUS_INTERRUPTED: "interrupted",
    STATUS_ERROR: "failed",
    STATUS_STREAMING: "still being written",
}
MAX_MESSAGES = 100_000


def stats_line(stats: dict[str, Any]) -> str:
    """'120 tokens · 41.2 tokens/s · first token 72 ms · gemma-3-270m' from saved stats."""
    parts: list[str] = []
    tokens = stats.get("generated_tokens")
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        parts.append(f"{tokens} tokens")
    rate = stats.get("tokens_per_s")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0:
        parts.append(f"{rate:.1f} tokens/s")
    ttft = stats.get("time_to_first_token_s")
    if isinstance(ttft, (int, float)) and not isinstance(ttft, bool):
        parts.append(f"first token {ttft * 1000:.0f} ms")
    model = stats.get("model")
    if isinstance(model, str) and model:
        parts.append(model)
    return " · ".join(parts)


def _require(store: ChatStore, conversation_id: int) -> Conversation:
    conversation = store.get_conversation(conversation_id)
    if conversation is None:
        raise ValueError(f"There is no conversation {conversation_id}.")
    return conversation


def _when(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def export_markdown(store: ChatStore, conversation_id: int) -> str:
    """The active thread as Markdown: title, model, system prompt, then each turn."""
    conversation = _require(store, conversation_id)
    lines = [f"# {conversation.title or 'New chat'}", ""]
    if conversation.model_path:
        lines.append(f"- Model: {Path(conversation.model_path).name}")
    lines.append(f"- Started: {_when(conversation.created_at)}")
    lines.append("")
    if conversation.system_prompt.strip():
        lines += ["## System prompt", "", conversation.system_prompt.strip(), ""]
    for message in store.messages(conversation_id):
        lines += [f"## {ROLE_TITLES.get(message.role, message.role.title())}", ""]
        lines += [message.content.rstrip() or "*(empty)*", ""]
        footer = [stats_line(message.stats)] if message.role == "assistant" else []
        if message.status in STATUS_NOTES:
            footer.append(STATUS_NOTES[message.status])
        footer = [part for part in footer if part]
        if footer:
            lines += [f"*{' — '.join(footer)}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def export_json(store: ChatStore, conversation_id: int) -> dict[str, Any]:
    """The whole conversation in the versioned "enclave-conversation" format (module doc)."""
    conversation = _require(store, conversation_id)
    messages = store.all_messages(conversation_id)
    file_id = {m.id: number for number, m in enumerate(messages, start=1)}
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": time.time(),
        "title": conversation.title,
        "model_path": conversation.model_path,
        "system_prompt": conversation.system_prompt,
        "settings": dict(conversation.settings),
        "created_at": conversation.created_at,
        "current": file_id.get(conversation.current_leaf_id or 0),
        "messages": [
            {
                "id": file_id[m.id],
                "parent": file_id.get(m.parent_id or 0),
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "created_at": m.created_at,
                "stats": dict(m.stats),
            }
            for m in messages
        ],
    }


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{where}: “{key}” should be text.")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_message(index: int, raw: Any) -> ImportedMessage:
    where = f"Message {index + 1}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is not an object with a role and content.")
    role = raw.get("role")
    if role not in ROLES:
        raise ValueError(f"{where} has the role {role!r}; expected user, assistant or system.")
    if not isinstance(raw.get("content"), str):
        raise ValueError(f"{where} has no text content.")
    status = raw.get("status", STATUS_COMPLETE)
    if status not in STATUSES:
        raise ValueError(f"{where} has an unknown status {status!r}.")
    created_at = raw.get("created_at")
    if created_at is not None and not _number(created_at):
        raise ValueError(f"{where}: “created_at” should be a number of seconds.")
    stats = raw.get("stats", {})
    if stats is None:
        stats = {}
    if not isinstance(stats, dict):
        raise ValueError(f"{where}: “stats” should be an object.")
    return ImportedMessage(role, raw["content"], status, created_at, dict(stats))


def import_json(store: ChatStore, data: Any) -> Conversation:
    """Add a conversation exported by `export_json` as a new conversation; returns it.

    Checks the whole file first, so a bad file adds nothing. ValueError says what is wrong.
    """
    if not isinstance(data, dict):
        raise ValueError("This file is not an Enclave conversation (expected a JSON object).")
    if data.get("format") != FORMAT_NAME:
        raise ValueError(
            "This file is not an Enclave conversation (its “format” is missing or different)."
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("This conversation file has no version number.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"This conversation was saved by a newer Enclave (format version {version}); "
            "update Enclave to open it."
        )
    if version < 1:
        raise ValueError(f"Unknown conversation format version {version}.")
    title = _text(data, "title", "The file")
    model_path = _text(data, "model_path", "The file")
    system_prompt = _text(data, "system_prompt", "The file")
    settings = data.get("settings", {})
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise ValueError("The file: “settings” should be an object.")
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list):
        raise ValueError("The file has no list of messages.")
    if len(raw_messages) > MAX_MESSAGES:
        raise ValueError(f"The file has too many messages ({len(raw_messages)}).")
    messages = [_parse_message(i, raw) for i, raw in enumerate(raw_messages)]
    parents, current = _tree(data, raw_messages) if version >= 2 else (None, None)
    return store.import_conversation(
        title or "Imported chat",
        messages,
        model_path=model_path,
        system_prompt=system_prompt,
        settings=dict(settings),
        parents=parents,
        current=current,
    )


def _tree(data: dict[str, Any], raw_messages: list[Any]) -> tuple[list[int | None], int | None]:
    """(index of each message's parent, index of the current message) from version 2's ids."""
    index_of: dict[int, int] = {}
    parents: list[int | None] = []
    for index, raw in enumerate(raw_messages):
        where = f"Message {index + 1}"
        number, parent = raw.get("id"), raw.get("parent")
        if not isinstance(number, int) or isinstance(number, bool) or number in index_of:
            raise ValueError(f"{where} has no “id” of its own.")
        if parent is None:
            parents.append(None)
        elif isinstance(parent, int) and not isinstance(parent, bool) and parent in index_of:
            parents.append(index_of[parent])
        else:
            raise ValueError(f"{where}: its “parent” is not a message before it.")
        index_of[number] = index
    current = data.get("current")
    if current is None:
        return parents, None
    if isinstance(current, bool) or current not in index_of:
        raise ValueError("The file: “current” is not one of its messages.")
    return parents, index_of[current]


def import_json_file(store: ChatStore, path: Path) -> Conversation:
    """`import_json` on a file; unreadable or non-JSON files also give a plain ValueError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"Could not read {Path(path).name}: {exc.strerror or exc}.") from exc
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{Path(path).name} is not a JSON file.") from exc
    return import_json(store, data)


def suggested_filename(conversation: Conversation, suffix: str) -> str:
    """A safe file name from the title: 'What is the capital of France.md'."""
    name = "".join(ch if ch.isalnum() or ch in " -_.,()" else " " for ch in conversation.title)
    name = " ".join(name.split()).strip(" .")[:80] or "Conversation"
    return f"{name}{suffix}"
