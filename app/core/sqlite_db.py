"""The one way Enclave opens its SQLite databases (conversations, documents index).

One connection per store, shared by threads and serialised by the store's lock; WAL so readers
never wait for a writer; we issue BEGIN/COMMIT ourselves (isolation_level=None).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_database(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0, isolation_level=None)
    db.row_factory = sqlite3.Row
    _set_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _set_wal(db: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs it alone: SQLite answers "locked" at once (no busy
    # wait) when another connection opens it at the same moment (two workers at start-up).
    for attempt in range(100):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.05)


@contextmanager
def immediate_transaction(db: sqlite3.Connection, lock: threading.RLock) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT under the store's lock; ROLLBACK on any exception."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
