"""Nothing lost: the app is killed with a real SIGKILL while an answer streams. After a
restart the conversation is there, the partial answer marked interrupted, the database intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from app.core import paths
from app.core.chat.store import STATUS_INTERRUPTED, ChatStore

pytestmark = pytest.mark.e2e
VICTIM = Path(__file__).with_name("chat_victim.py")
REPO = Path(__file__).resolve().parents[2]


def saved_answer(db: Path) -> str:
    """What the newest answer has on disk: its text, and the pieces saved while it streams."""
    if not db.exists():
        return ""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        row = conn.execute(
            "SELECT id, content FROM messages WHERE role = 'assistant' ORDER BY id DESC"
        ).fetchone()
        if row is None:
            return ""
        pieces = conn.execute(
            "SELECT piece FROM message_drafts WHERE message_id = ? ORDER BY seq", (row[0],)
        ).fetchall()
    return str(row[1]) + "".join(piece for (piece,) in pieces)


def test_sigkill_mid_answer_loses_at_most_a_second(chat_model_path: Path) -> None:
    db = paths.database_path()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    victim = subprocess.Popen(
        [sys.executable, str(VICTIM), str(chat_model_path), "Write a very long story about a ship."],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = victim.stdout.readline() if victim.stdout else ""  # "asked host=PID"
        assert line.startswith("asked"), line
        host_pid = int(line.split("host=")[1])
        deadline = time.monotonic() + 90
        while not saved_answer(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        first = saved_answer(db)
        assert first, "the streaming answer never reached the database"
        # It keeps being saved while it streams (the app saves at least once a second).
        first_seen = time.monotonic()
        while saved_answer(db) == first and time.monotonic() < deadline:
            time.sleep(0.05)
        before_kill = saved_answer(db)
        assert len(before_kill) > len(first)
        assert time.monotonic() - first_seen < 3.0  # ~1 s, with slack for a busy machine
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    # The engine host notices its parent is gone and exits by itself (no orphaned model in RAM).
    gone_by = time.monotonic() + 10
    while psutil.pid_exists(host_pid) and psutil.Process(host_pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < gone_by, "the engine host outlived the killed app"
        time.sleep(0.2)

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = ChatStore(db)  # the restart
    conversations = store.list_conversations()
    assert len(conversations) == 1
    thread = store.messages(conversations[0].id)
    assert [m.role for m in thread] == ["user", "assistant"]
    assert thread[0].content == "Write a very long story about a ship."
    assert thread[1].status == STATUS_INTERRUPTED
    assert thread[1].content.startswith(before_kill)  # all that was saved is still there
    assert store.integrity_ok()
