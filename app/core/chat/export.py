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
from app.core.i18n import number, translate, translate_noop

FORMAT_NAME = "enclave-conversation"
FORMAT_VERSION = 2
ROLES = ("system", "user", "assistant")
STATUSES = (STATUS_COMPLETE, STATUS_STREAMING, STATUS_INTERRUPTED, STATUS_CANCELLED, STATUS_ERROR)
# Written as translate("export", ...) into a Markdown export.
ROLE_TITLES = {
    "user": translate_noop("export", "You"),
    "assistant": translate_noop("export", "Assistant"),
    "system": translate_noop("export", "System"),
}
STATUS_NOTES = {
    STATUS_CANCELLED: translate_noop("export", "stopped by the user"),
    STATUS_INTERRUPTED: translate_noop("export", "interrupted"),
    STATUS_ERROR: translate_noop("export", "failed"),
    STATUS_STREAMING: translate_noop("export", "still being written"),
}
MAX_MESSAGES = 100_000


def stats_line(stats: dict[str, Any]) -> str:
    """'120 tokens · 41.2 tokens/s · first token 72 ms · gemma-3-270m' from saved stats."""
    parts: list[str] = []
    tokens = stats.get("generated_tokens")
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        parts.append(translate("export", "%n tokens", None, tokens))
    rate = stats.get("tokens_per_s")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0:
        parts.append(translate("export", "{rate} tokens/s").format(rate=number(rate, 1)))
    ttft = stats.get("time_to_first_token_s")
    if isinstance(ttft, (int, float)) and not isinstance(ttft, bool):
        parts.append(
            translate("export", "first token {milliseconds} ms").format(milliseconds=number(ttft * 1000))
        )
    model = stats.get("model")
    if isinstance(model, str) and model:
        parts.append(model)
    return " · ".join(parts)


def _require(store: ChatStore, conversation_id: int) -> Conversation:
    conversation = store.get_conversation(conversation_id)
    if conversation is None:
        raise ValueError(
            translate("export", "There is no conversation {number}.").format(number=conversation_id)
        )
    return conversation


def _when(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def export_markdown(store: ChatStore, conversation_id: int) -> str:
    """The active thread as Markdown: title, model, system prompt, then each turn."""
    conversation = _require(store, conversation_id)
    lines = [f"# {conversation.title or translate('export', 'New chat')}", ""]
    if conversation.model_path:
        lines.append(translate("export", "- Model: {file}").format(file=Path(conversation.model_path).name))
    lines.append(translate("export", "- Started: {when}").format(when=_when(conversation.created_at)))
    lines.append("")
    if conversation.system_prompt.strip():
        lines += [translate("export", "## System prompt"), "", conversation.system_prompt.strip(), ""]
    for message in store.messages(conversation_id):
        role = message.role
        title = translate("export", ROLE_TITLES[role]) if role in ROLE_TITLES else role.title()
        lines += [f"## {title}", ""]
        lines += [message.content.rstrip() or translate("export", "*(empty)*"), ""]
        footer = [stats_line(message.stats)] if message.role == "assistant" else []
        if message.status in STATUS_NOTES:
            footer.append(translate("export", STATUS_NOTES[message.status]))
        footer = [part for part in footer if part]
        if footer:
            lines += [f"*{' — '.join(footer)}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def export_json(store: ChatStore, conversation_id: int) -> dict[str, Any]:
    """The whole conversation in the versioned "enclave-conversation" format (module doc)."""
    conversation = _require(store, conversation_id)
    messages = store.all_messages(conversation_id)
    file_id = {m.id: position for position, m in enumerate(messages, start=1)}
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


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ValueError(translate("export", "The file: “{key}” should be text.").format(key=key))
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_message(index: int, raw: Any) -> ImportedMessage:
    where = index + 1
    if not isinstance(raw, dict):
        raise ValueError(
            translate("export", "Message {number} is not an object with a role and content.").format(
                number=where
            )
        )
    role = raw.get("role")
    if role not in ROLES:
        raise ValueError(
            translate(
                "export", "Message {number} has the role {role}; expected user, assistant or system."
            ).format(number=where, role=repr(role))
        )
    if not isinstance(raw.get("content"), str):
        raise ValueError(translate("export", "Message {number} has no text content.").format(number=where))
    status = raw.get("status", STATUS_COMPLETE)
    if status not in STATUSES:
        raise ValueError(
            translate("export", "Message {number} has an unknown status {status}.").format(
                number=where, status=repr(status)
            )
        )
    created_at = raw.get("created_at")
    if created_at is not None and not _number(created_at):
        raise ValueError(
            translate("export", "Message {number}: “created_at” should be a number of seconds.").format(
                number=where
            )
        )
    stats = raw.get("stats", {})
    if stats is None:
        stats = {}
    if not isinstance(stats, dict):
        raise ValueError(
            translate("export", "Message {number}: “stats” should be an object.").format(number=where)
        )
    return ImportedMessage(role, raw["content"], status, created_at, dict(stats))


def import_json(store: ChatStore, data: Any) -> Conversation:
    """Add a conversation exported by `export_json` as a new conversation; returns it.

    Checks the whole file first, so a bad file adds nothing. ValueError says what is wrong.
    """
    if not isinstance(data, dict):
        raise ValueError(
            translate("export", "This file is not an Enclave conversation (expected a JSON object).")
        )
    if data.get("format") != FORMAT_NAME:
        raise ValueError(
            translate(
                "export", "This file is not an Enclave conversation (its “format” is missing or different)."
            )
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(translate("export", "This conversation file has no version number."))
    if version > FORMAT_VERSION:
        raise ValueError(
            translate(
                "export",
                "This conversation was saved by a newer Enclave (format version {version}); "
                "update Enclave to open it.",
            ).format(version=version)
        )
    if version < 1:
        raise ValueError(
            translate("export", "Unknown conversation format version {version}.").format(version=version)
        )
    title = _text(data, "title")
    model_path = _text(data, "model_path")
    system_prompt = _text(data, "system_prompt")
    settings = data.get("settings", {})
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise ValueError(translate("export", "The file: “settings” should be an object."))
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list):
        raise ValueError(translate("export", "The file has no list of messages."))
    if len(raw_messages) > MAX_MESSAGES:
        raise ValueError(
            translate("export", "The file has too many messages ({count}).").format(count=len(raw_messages))
        )
    messages = [_parse_message(i, raw) for i, raw in enumerate(raw_messages)]
    parents, current = _tree(data, raw_messages) if version >= 2 else (None, None)
    return store.import_conversation(
        title or translate("export", "Imported chat"),
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
        where = index + 1
        file_id, parent = raw.get("id"), raw.get("parent")
        if not isinstance(file_id, int) or isinstance(file_id, bool) or file_id in index_of:
            raise ValueError(
                translate("export", "Message {number} has no “id” of its own.").format(number=where)
            )
        if parent is None:
            parents.append(None)
        elif isinstance(parent, int) and not isinstance(parent, bool) and parent in index_of:
            parents.append(index_of[parent])
        else:
            raise ValueError(
                translate("export", "Message {number}: its “parent” is not a message before it.").format(
                    number=where
                )
            )
        index_of[file_id] = index
    current = data.get("current")
    if current is None:
        return parents, None
    if isinstance(current, bool) or current not in index_of:
        raise ValueError(translate("export", "The file: “current” is not one of its messages."))
    return parents, index_of[current]


def import_json_file(store: ChatStore, path: Path) -> Conversation:
    """`import_json` on a file; unreadable or non-JSON files also give a plain ValueError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(
            translate("export", "Could not read {file}: {reason}.").format(
                file=Path(path).name, reason=exc.strerror or exc
            )
        ) from exc
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            translate("export", "{file} is not a JSON file.").format(file=Path(path).name)
        ) from exc
    return import_json(store, data)


def suggested_filename(conversation: Conversation, suffix: str) -> str:
    """A safe file name from the title: 'What is the capital of France.md'."""
    name = "".join(ch if ch.isalnum() or ch in " -_.,()" else " " for ch in conversation.title)
    name = " ".join(name.split()).strip(" .")[:80] or translate("export", "Conversation")
    return f"{name}{suffix}"
