"""Opening a database must not drop the locks of a connection this process already has open.

Closing any file descriptor of a database file releases every POSIX lock the process holds on
it (SQLite's "how to corrupt your database", 2.2). An opener that did open() + close() on the
file beside a live connection let another process believe it was alone: it checkpointed and
deleted the WAL and shared-memory files under the live connection, whose next read failed
with SQLITE_IOERR_SHORT_READ (found by the indexing kill matrix, tests/e2e/test_kill_matrix.py).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from app.core.sqlite_db import open_database


def test_a_second_opener_keeps_the_first_connections_locks(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    first = open_database(db)
    first.execute("CREATE TABLE t (x)")
    first.execute("INSERT INTO t VALUES (1)")
    second = open_database(db)  # the window opens several stores on one file
    second.close()
    # Another process (the CLI, an API worker) opens, reads and closes the same database.
    reader = (
        f"import sqlite3; c = sqlite3.connect({str(db)!r}); "
        "c.execute('SELECT * FROM t').fetchall(); c.close()"
    )
    subprocess.run([sys.executable, "-c", reader], check=True)
    assert (tmp_path / "index.db-wal").exists()  # it saw it was not alone
    assert first.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1
    first.execute("INSERT INTO t VALUES (2)")
    first.close()
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert check.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2
