"""The one way Enclave opens its SQLite databases (conversations, documents index).

One connection per store, shared by threads and serialised by the store's lock; WAL so readers
never wait for a writer; we issue BEGIN/COMMIT ourselves (isolation_level=None).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.paths import owner_only

IN_MEMORY = ":memory:"  # SQLite's name for a database that never touches the disk


def open_database(path: Path) -> sqlite3.Connection:
    if str(path) != IN_MEMORY:  # no folder and no empty ":memory:" file in the working folder
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_owner_only(path)
    db = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0, isolation_level=None)
    db.row_factory = sqlite3.Row
    _set_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _create_owner_only(path: Path) -> None:
    """The database holds conversations and document text: owner-only (0600). SQLite gives its
    -wal and -shm files the database file's mode, so creating the file first covers them."""
    # Only a file that is not there yet: closing any descriptor of a database file drops every
    # POSIX lock this process holds on it, so an open() + close() beside a live connection (the
    # window opens several) lets another process delete the WAL under it (SQLite's "how to
    # corrupt": close() cancels locks). A new file has no connection yet.
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # created a moment ago by another connection's opener: already owner-only
        except OSError:
            return  # sqlite3.connect reports the problem in its own words
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        owner_only(file)  # also files an older version made with the default mode


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
