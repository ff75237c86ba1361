"""Conversations and messages in SQLite (stdlib sqlite3, WAL, user_version migrations).

Every finished message is committed at once; a streaming answer is written at least once a
second by the caller (`update_message`), so a crash loses at most a second of text. A message
still marked "streaming" when the store opens was cut off by a crash: it becomes "interrupted".
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core import paths

STATUS_COMPLETE = "complete"
STATUS_STREAMING = "streaming"
STATUS_INTERRUPTED = "interrupted"  # the app or engine died mid-answer
STATUS_CANCELLED = "cancelled"  # the user pressed Stop
STATUS_ERROR = "error"

# Each entry upgrades the schema by one version; never edit an entry once released.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        model_path TEXT NOT NULL DEFAULT '',
        system_prompt TEXT NOT NULL DEFAULT '',
        settings_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'complete',
        created_at REAL NOT NULL,
        stats_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX conversations_by_update ON conversations(updated_at DESC);
    """,
]


@dataclass
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    status: str
    created_at: float
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    model_path: str
    system_prompt: str
    settings: dict[str, Any] = field(default_factory=dict)


class ChatStore:
    def __init__(self, db_path: Path | None = None) -> None:
        self.path = db_path or paths.database_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by threads, serialised by a lock: writes are tiny and rare.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        self._mark_interrupted()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    def _mark_interrupted(self) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET status = ? WHERE status = ?",
                (STATUS_INTERRUPTED, STATUS_STREAMING),
            )

    def integrity_ok(self) -> bool:
        with self._lock:
            return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    # ---- conversations ------------------------------------------------------------------
    def create_conversation(self, title: str = "", model_path: str = "", system_prompt: str = "") -> Conversation:
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model_path, system_prompt)"
                " VALUES (?, ?, ?, ?, ?)",
                (title, now, now, model_path, system_prompt),
            )
            conversation_id = int(cursor.lastrowid or 0)
        return Conversation(conversation_id, title, now, now, model_path, system_prompt, {})

    def list_conversations(self, limit: int = 500) -> list[Conversation]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM conversations ORDER BY updated_at DESC, id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_conversation(r) for r in rows]

    def get_conversation(self, conversation_id: int) -> Conversation | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        return _conversation(row) if row else None

    def update_conversation(self, conversation_id: int, **fields: Any) -> None:
        allowed = {"title", "model_path", "system_prompt", "settings"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown conversation fields: {sorted(unknown)}")
        if "settings" in fields:
            fields["settings_json"] = json.dumps(fields.pop("settings"))
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._transaction() as db:
            db.execute(
                f"UPDATE conversations SET {assignments}, updated_at = ? WHERE id = ?",
                (*fields.values(), time.time(), conversation_id),
            )

    def delete_conversation(self, conversation_id: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # ---- messages -----------------------------------------------------------------------
    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        status: str = STATUS_COMPLETE,
        stats: dict[str, Any] | None = None,
    ) -> Message:
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, content, status, created_at, stats_json)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, status, now, json.dumps(stats or {})),
            )
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
            message_id = int(cursor.lastrowid or 0)
        return Message(message_id, conversation_id, role, content, status, now, dict(stats or {}))

    def update_message(
        self,
        message_id: int,
        content: str | None = None,
        status: str | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        assignments: list[str] = []
        values: list[Any] = []
        if content is not None:
            assignments.append("content = ?")
            values.append(content)
        if status is not None:
            assignments.append("status = ?")
            values.append(status)
        if stats is not None:
            assignments.append("stats_json = ?")
            values.append(json.dumps(stats))
        if not assignments:
            return
        with self._transaction() as db:
            db.execute(f"UPDATE messages SET {', '.join(assignments)} WHERE id = ?", (*values, message_id))

    def messages(self, conversation_id: int) -> list[Message]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return [_message(r) for r in rows]


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        model_path=row["model_path"],
        system_prompt=row["system_prompt"],
        settings=json.loads(row["settings_json"] or "{}"),
    )


def _message(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        content=row["content"],
        status=row["status"],
        created_at=row["created_at"],
        stats=json.loads(row["stats_json"] or "{}"),
    )


def title_from_question(question: str, limit: int = 60) -> str:
    """A conversation title from the first question: its first line, cut at a word."""
    line = " ".join(question.strip().split())
    if len(line) <= limit:
        return line or "New chat"
    cut = line[:limit].rsplit(" ", 1)[0]
    return (cut or line[:limit]) + "…"
