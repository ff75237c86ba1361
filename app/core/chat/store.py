"""Conversations and messages in SQLite (stdlib sqlite3, WAL, user_version migrations).

Every finished message is committed at once. A streaming answer is saved at least once a second
by the caller, cheaply: `append_draft` adds only the text that arrived since the last save to a
small side table (schema 3), so neither the whole message nor its full-text row is rewritten per
save; `finish_message` writes the whole text once, at the end. A message still marked
"streaming" when the store opens was cut off by a crash: its saved pieces are joined into it and
it becomes "interrupted".

Messages form a tree (schema 2): each message points at the one before it (`parent_id`), and a
conversation remembers the leaf of the thread on screen (`current_leaf_id`). Editing a question
or regenerating an answer adds a sibling instead of overwriting, so earlier versions stay
browsable ("< 1/2 >"); `messages()` reads the active thread root to leaf.

Search runs on SQLite FTS5 tables kept in sync by triggers (message text and titles). Deleting a
conversation only marks it (`deleted_at`) so it can be undone; `purge_deleted` removes it for good.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core import paths
from app.core.chat.store_schema import MIGRATIONS
from app.core.fts_query import match_expression, words
from app.core.i18n import translate
from app.core.sqlite_db import immediate_transaction, open_database

STATUS_COMPLETE = "complete"
STATUS_STREAMING = "streaming"
STATUS_INTERRUPTED = "interrupted"  # the app or engine died mid-answer
STATUS_CANCELLED = "cancelled"  # the user pressed Stop
STATUS_ERROR = "error"


class _Default(enum.Enum):
    """Marks "not given" where None is a meaningful value (a message with no parent)."""

    TOKEN = 0


_DEFAULT = _Default.TOKEN


@dataclass
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    status: str
    created_at: float
    stats: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None  # the message before this one in its thread; None for a first one


@dataclass
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    model_path: str
    system_prompt: str
    settings: dict[str, Any] = field(default_factory=dict)
    current_leaf_id: int | None = None  # the last message of the thread on screen
    deleted_at: float | None = None  # set by delete_conversation until restored or purged


@dataclass
class ConversationHit:
    """One search result: the conversation and a short excerpt of the best matching message."""

    conversation: Conversation
    snippet: str  # "" when only the title matched


@dataclass
class ImportedMessage:
    """A message to write with `import_conversation` (already validated by the caller)."""

    role: str
    content: str
    status: str = "complete"
    created_at: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)


MEMORY = ":memory:"


class ChatStore:
    def __init__(self, db_path: Path | None = None) -> None:
        from app.core.policy import current_policy

        # keep_history false (the organisation's policy): conversations live in memory only and
        # nothing of them is written to disk; an earlier database is left as it was.
        self.keeps_history = db_path is not None or current_policy().keeps_history
        self.path = db_path or (paths.database_path() if self.keeps_history else Path(MEMORY))
        # One connection shared by threads, serialised by a lock: writes are tiny and rare.
        self._db = open_database(self.path)
        if str(self.path) == MEMORY:
            self._db.execute("PRAGMA temp_store=MEMORY")  # no temporary files either
        self._lock = threading.RLock()
        self._migrate()
        self._mark_interrupted()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db, self._lock)

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    def _mark_interrupted(self) -> None:
        with self._transaction() as db:
            cut_off = [
                int(row[0])
                for row in db.execute("SELECT id FROM messages WHERE status = ?", (STATUS_STREAMING,))
            ]
            for message_id in cut_off:
                saved = self._draft_text(db, message_id)
                if saved:
                    db.execute("UPDATE messages SET content = content || ? WHERE id = ?", (saved, message_id))
            db.execute(
                "UPDATE messages SET status = ? WHERE status = ?",
                (STATUS_INTERRUPTED, STATUS_STREAMING),
            )
            db.execute("DELETE FROM message_drafts")

    @staticmethod
    def _draft_text(db: sqlite3.Connection, message_id: int) -> str:
        rows = db.execute(
            "SELECT piece FROM message_drafts WHERE message_id = ? ORDER BY seq", (message_id,)
        ).fetchall()
        return "".join(row[0] for row in rows)

    def integrity_ok(self) -> bool:
        with self._lock:
            return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    # ---- conversations ------------------------------------------------------------------
    def create_conversation(
        self, title: str = "", model_path: str = "", system_prompt: str = ""
    ) -> Conversation:
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model_path,"
                " system_prompt) VALUES (?, ?, ?, ?, ?)",
                (title, now, now, model_path, system_prompt),
            )
            conversation_id = int(cursor.lastrowid or 0)
        return Conversation(conversation_id, title, now, now, model_path, system_prompt, {})

    def list_conversations(self, limit: int = 500) -> list[Conversation]:
        """Conversations that are not deleted, most recent activity first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM conversations WHERE deleted_at IS NULL"
                " ORDER BY updated_at DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_conversation(r) for r in rows]

    def get_conversation(self, conversation_id: int) -> Conversation | None:
        """The conversation, also a deleted one (its `deleted_at` is then set)."""
        with self._lock:
            row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        return _conversation(row) if row else None

    def update_conversation(self, conversation_id: int, *, touch: bool = True, **fields: Any) -> None:
        """Change title, model_path, system_prompt or settings.

        `touch=False` keeps `updated_at` (a rename should not move the chat to the top).
        """
        allowed = {"title", "model_path", "system_prompt", "settings"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown conversation fields: {sorted(unknown)}")
        if "settings" in fields:
            fields["settings_json"] = json.dumps(fields.pop("settings"))
        assignments = [f"{name} = ?" for name in fields]
        values: list[Any] = list(fields.values())
        if touch:
            assignments.append("updated_at = ?")
            values.append(time.time())
        if not assignments:
            return
        with self._transaction() as db:
            db.execute(
                f"UPDATE conversations SET {', '.join(assignments)} WHERE id = ?",
                (*values, conversation_id),
            )

    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete: hidden from lists, search and `messages()` until restored or purged."""
        with self._transaction() as db:
            db.execute(
                "UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (time.time(), conversation_id),
            )

    def restore_conversation(self, conversation_id: int) -> None:
        """Undo `delete_conversation` (nothing happens once it was purged)."""
        with self._transaction() as db:
            db.execute("UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,))

    def purge_deleted(self, older_than_s: float = 0.0, conversation_id: int | None = None) -> int:
        """Remove for good conversations deleted at least `older_than_s` seconds ago.

        With `conversation_id`, only that one (if it is deleted). Returns how many went.
        """
        cutoff = time.time() - older_than_s
        query = "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?"
        params: tuple[Any, ...] = (cutoff,)
        if conversation_id is not None:
            query += " AND id = ?"
            params = (cutoff, conversation_id)
        with self._transaction() as db:
            return int(db.execute(query, params).rowcount)

    def search_conversations(self, query: str, limit: int = 50) -> list[ConversationHit]:
        """Conversations whose title or any message has every word of `query` (prefixes too).

        User text is reduced to plain words before it reaches FTS5, so quotes, operators and
        stray punctuation never raise. Newest activity first, like the list.
        """
        match = fts_query(query)
        if not match:
            return []
        with self._lock:
            rows = self._db.execute(
                """
                WITH message_hits AS MATERIALIZED (
                    SELECT m.conversation_id AS cid,
                           snippet(messages_fts, 0, '', '', '…', 12) AS snip,
                           bm25(messages_fts) AS score
                    FROM messages_fts JOIN messages AS m ON m.id = messages_fts.rowid
                    WHERE messages_fts MATCH :match
                ),
                best AS (SELECT cid, snip, MIN(score) FROM message_hits GROUP BY cid),
                titles AS (
                    SELECT rowid AS cid FROM conversations_fts
                    WHERE conversations_fts MATCH :match
                )
                SELECT c.*, COALESCE(best.snip, '') AS hit_snippet
                FROM conversations AS c LEFT JOIN best ON best.cid = c.id
                WHERE c.deleted_at IS NULL
                  AND (best.cid IS NOT NULL OR c.id IN (SELECT cid FROM titles))
                ORDER BY c.updated_at DESC, c.id DESC
                LIMIT :limit
                """,
                {"match": match, "limit": limit},
            ).fetchall()
        return [ConversationHit(_conversation(r), " ".join(r["hit_snippet"].split())) for r in rows]

    def import_conversation(
        self,
        title: str,
        messages: Sequence[ImportedMessage],
        model_path: str = "",
        system_prompt: str = "",
        settings: dict[str, Any] | None = None,
        *,
        parents: Sequence[int | None] | None = None,
        current: int | None = None,
    ) -> Conversation:
        """A new conversation, written in one transaction (all or nothing).

        Without `parents` the messages form one thread in their order. With it, parents[i] is
        the index in `messages` of message i's parent (an earlier one) or None for a first
        message: the whole tree of versions. `current` is the index of the message whose thread
        is shown (default: the last one).
        """
        if parents is not None:
            if len(parents) != len(messages):
                raise ValueError("one parent per message")
            if any(p is not None and not 0 <= p < i for i, p in enumerate(parents)):
                raise ValueError("a message's parent must come before it")
        if current is not None and not 0 <= current < len(messages):
            raise ValueError("the current message is not in the list")
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model_path,"
                " system_prompt, settings_json) VALUES (?, ?, ?, ?, ?, ?)",
                (title, now, now, model_path, system_prompt, json.dumps(settings or {})),
            )
            conversation_id = int(cursor.lastrowid or 0)
            ids: list[int] = []
            for index, message in enumerate(messages):
                if parents is None:
                    parent = ids[-1] if ids else None
                else:
                    wanted = parents[index]
                    parent = None if wanted is None else ids[wanted]
                status = STATUS_INTERRUPTED if message.status == STATUS_STREAMING else message.status
                cursor = db.execute(
                    "INSERT INTO messages (conversation_id, parent_id, role, content, status,"
                    " created_at, stats_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        conversation_id,
                        parent,
                        message.role,
                        message.content,
                        status,
                        now if message.created_at is None else message.created_at,
                        json.dumps(message.stats),
                    ),
                )
                ids.append(int(cursor.lastrowid or 0))
            leaf = ids[-1 if current is None else current] if ids else None
            db.execute(
                "UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
                (leaf, conversation_id),
            )
        conversation = self.get_conversation(conversation_id)
        assert conversation is not None
        return conversation

    # ---- messages -----------------------------------------------------------------------
    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        status: str = STATUS_COMPLETE,
        stats: dict[str, Any] | None = None,
        parent_id: int | None | _Default = _DEFAULT,
    ) -> Message:
        """Append a message and make it the current leaf.

        By default it follows the current leaf. An explicit `parent_id` (None: a new first
        message) starts a sibling branch: an edited question, a regenerated answer.
        """
        now = time.time()
        with self._transaction() as db:
            if isinstance(parent_id, _Default):
                row = db.execute(
                    "SELECT current_leaf_id FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                parent = row[0] if row else None
            else:
                parent = parent_id
                if parent is not None:
                    owner = db.execute(
                        "SELECT conversation_id FROM messages WHERE id = ?", (parent,)
                    ).fetchone()
                    if owner is None or owner[0] != conversation_id:
                        raise ValueError(f"message {parent} is not in conversation {conversation_id}")
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, status,"
                " created_at, stats_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent, role, content, status, now, json.dumps(stats or {})),
            )
            message_id = int(cursor.lastrowid or 0)
            db.execute(
                "UPDATE conversations SET updated_at = ?, current_leaf_id = ? WHERE id = ?",
                (now, message_id, conversation_id),
            )
        return Message(message_id, conversation_id, role, content, status, now, dict(stats or {}), parent)

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

    def append_draft(self, message_id: int, piece: str) -> None:
        """Save the text a streaming answer gained since its last save (a small insert)."""
        if not piece:
            return
        with self._transaction() as db:
            db.execute(
                "INSERT INTO message_drafts (message_id, seq, piece) VALUES (?,"
                " (SELECT COALESCE(MAX(seq), 0) + 1 FROM message_drafts WHERE message_id = ?), ?)",
                (message_id, message_id, piece),
            )

    def draft_text(self, message_id: int) -> str:
        """What a streaming answer has saved so far (its pieces, joined)."""
        with self._lock:
            return self._draft_text(self._db, message_id)

    def finish_message(
        self, message_id: int, content: str, status: str, stats: dict[str, Any] | None = None
    ) -> None:
        """The end of an answer: its whole text, once, and its saved pieces go."""
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET content = ?, status = ?, stats_json = ? WHERE id = ?",
                (content, status, json.dumps(stats or {}), message_id),
            )
            db.execute("DELETE FROM message_drafts WHERE message_id = ?", (message_id,))

    def messages(self, conversation_id: int) -> list[Message]:
        """The active thread, root to current leaf ([] for a deleted conversation)."""
        with self._lock:
            rows = self._db.execute(
                """
                WITH RECURSIVE thread(id, depth) AS (
                    SELECT current_leaf_id, 0 FROM conversations
                    WHERE id = :cid AND deleted_at IS NULL AND current_leaf_id IS NOT NULL
                    UNION ALL
                    SELECT m.parent_id, thread.depth + 1
                    FROM messages AS m JOIN thread ON m.id = thread.id
                    WHERE m.parent_id IS NOT NULL
                )
                SELECT m.* FROM thread JOIN messages AS m ON m.id = thread.id
                WHERE m.conversation_id = :cid
                ORDER BY thread.depth DESC
                """,
                {"cid": conversation_id},
            ).fetchall()
        return [_message(r) for r in rows]

    def all_messages(self, conversation_id: int) -> list[Message]:
        """Every version of every turn (the whole tree), oldest first: a parent always comes
        before its children."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return [_message(r) for r in rows]

    def get_message(self, message_id: int) -> Message | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _message(row) if row else None

    def siblings(self, message_id: int) -> list[Message]:
        """The versions of this turn: same parent, oldest first, itself included ("< 2/3 >")."""
        with self._lock:
            rows = self._db.execute(
                """
                SELECT s.* FROM messages AS me JOIN messages AS s
                  ON s.conversation_id = me.conversation_id AND s.parent_id IS me.parent_id
                WHERE me.id = ?
                ORDER BY s.id
                """,
                (message_id,),
            ).fetchall()
        return [_message(r) for r in rows]

    def switch_to(self, message_id: int) -> None:
        """Show this message's branch: the current leaf becomes its newest descendant.

        Walking down always takes the most recently created child, so switching to an older
        version of a question shows the answers that were given to it.
        """
        with self._transaction() as db:
            row = db.execute(
                """
                WITH RECURSIVE down(id, depth) AS (
                    SELECT id, 0 FROM messages WHERE id = :mid
                    UNION ALL
                    SELECT (SELECT MAX(c.id) FROM messages AS c WHERE c.parent_id = down.id),
                           depth + 1
                    FROM down WHERE down.id IS NOT NULL
                )
                SELECT d.id, m.conversation_id FROM down AS d JOIN messages AS m ON m.id = d.id
                ORDER BY d.depth DESC LIMIT 1
                """,
                {"mid": message_id},
            ).fetchone()
            if row is None:
                raise ValueError(f"no message {message_id}")
            db.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (row[0], row[1]))


def fts_query(text: str) -> str:
    """What a person typed in the history search -> rows with every word, each as a prefix."""
    return match_expression(words(text), "AND", prefix=True)


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        model_path=row["model_path"],
        system_prompt=row["system_prompt"],
        settings=json.loads(row["settings_json"] or "{}"),
        current_leaf_id=row["current_leaf_id"],
        deleted_at=row["deleted_at"],
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
        parent_id=row["parent_id"],
    )


def title_from_question(question: str, limit: int = 60) -> str:
    """A conversation title from the first question: its first line, cut at a word."""
    line = " ".join(question.strip().split())
    if len(line) <= limit:
        return line or translate("store", "New chat")
    cut = line[:limit].rsplit(" ", 1)[0]
    return (cut or line[:limit]) + "…"
