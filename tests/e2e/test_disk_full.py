"""Nothing lost when the disk fills up: a real small disk (a tmpfs mounted for the test, so it
needs root; skipped with the reason elsewhere) fills while a download, an indexing run and a
chat save are writing. Each says so in a plain sentence, nothing half-written is left where it
counts as done (the Library, a file listed as indexed, a message marked complete), and after
space is freed the same work continues to the right end.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hub_fixtures import fake_hub, memory_keyring

__all__ = ["fake_hub", "memory_keyring"]  # fixtures
pytestmark = pytest.mark.e2e
MB = 1_000_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """small_disk(bytes) -> the folder of a fresh tmpfs of that size (unmounted afterwards)."""
    if os.geteuid() != 0:
        pytest.skip("a small disk needs root (mount -t tmpfs)")
    mounted: list[Path] = []

    def make(size: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def resize(disk: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = disk / "filler.bin"
    block = b"\0" * 65536
    with open(filler, "ab", buffering=0) as handle:
        try:
            while True:
                handle.write(block)
        except OSError:
            pass
    with open(filler, "ab", buffering=0) as handle:  # the last few bytes too
        try:
            while True:
                handle.write(b"\0")
        except OSError:
            pass
    return filler


def test_a_disk_that_fills_during_a_download(
    fake_hub: object, small_disk: Callable[[int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.downloads import download_model
    from app.core.downloads import model as download_module
    from app.core.downloads.errors import DiskFullDownloadError
    from app.core.downloads.placement import STAGING_DIR

    disk = small_disk(8 * MB)
    models = disk / "models"
    repo, name = "acme/Full-GGUF", "full-Q4_K_M.gguf"
    data = random.Random(5).randbytes(5 * MB)
    hub = fake_hub
    hub.add_repo(repo)  # type: ignore[attr-defined]
    hub.add_file(repo, name, data)  # type: ignore[attr-defined]
    hub.faults.throttle_bps = 4 * MB  # type: ignore[attr-defined]
    # The room check before the start passes (no 64 MB margin on this tiny disk): the disk
    # fills up afterwards, as when another program writes at the same time.
    monkeypatch.setattr(download_module, "DISK_MARGIN", 0)
    part = models / STAGING_DIR / repo / (name + ".part")
    final = models / repo / name
    fillers: list[Path] = []

    def other_program() -> None:
        while not part.exists() or part.stat().st_size < MB:
            time.sleep(0.01)
        fillers.append(fill(disk))

    threading.Thread(target=other_program, daemon=True).start()
    with pytest.raises(DiskFullDownloadError) as failure:
        download_model(repo, name, models_dir=models)
    message = str(failure.value)
    assert message.startswith("The disk is full") and "resume" in message
    assert not final.exists()  # nothing unverified where the Library looks
    assert part.exists() and part.stat().st_size >= MB  # what arrived is kept for the resume
    fillers[0].unlink()
    hub.faults.throttle_bps = None  # type: ignore[attr-defined]
    path = download_model(repo, name, models_dir=models)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def make_notes(folder: Path, files: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        text = "\n\n".join(
            f"Rule {i}.{j}: the {['parking', 'travel', 'badge'][i % 3]} office answers question "
            f"{i * 100 + j} between {j % 9 + 1} and {j % 9 + 3} o'clock in room {200 + i}."
            for j in range(30)
        )
        (folder / f"rules-{i:02d}.md").write_text(f"# Rules {i}\n\n{text}\n")
    return folder


def test_a_disk_that_fills_during_indexing(
    tmp_path: Path, small_disk: Callable[[int], Path], embedding_model_path: Path
) -> None:
    from app.core.documents.index import DocumentIndex
    from app.core.documents.indexer import IndexDiskFullError, index_collection
    from app.core.documents.local_embedder import LocalEmbedder
    from app.core.documents.search import Searcher

    notes = make_notes(tmp_path / "notes")
    disk = small_disk(420_000)
    db = disk / "documents.db"
    embedder = LocalEmbedder(embedding_model_path, n_threads=1)
    with DocumentIndex(db) as index:
        index.create_collection("Rules", [notes])
        with pytest.raises(IndexDiskFullError) as failure:
            index_collection(index, "Rules", embedder, batch_size=8)
        assert str(failure.value).startswith("The disk is full")
        assert "continue" in str(failure.value)
        assert index.collection("Rules").state == "indexing"  # not "ready": it is not done
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        listed = conn.execute(
            "SELECT f.path, COUNT(c.id) FROM files f LEFT JOIN chunks c ON c.file_id = f.id "
            "WHERE f.status = 'indexed' GROUP BY f.id"
        ).fetchall()
    assert 0 < len(listed) < 12, listed  # it filled up part-way
    # Room again: the same run continues where it stopped and ends complete.
    resize(disk, 64 * MB)
    with DocumentIndex(db) as index:
        report = index_collection(index, "Rules", embedder, batch_size=8)
        assert report.unchanged == len(listed) and report.added == 12 - len(listed)
        assert index.collection("Rules").state == "ready"
        assert index.count_missing_vectors(index.collection("Rules").id) == 0
        result = Searcher(index, None, "keywords").search(["Rules"], "badge office", 3, "bm25")
        assert result.hits
    # Every file listed as indexed before the disk filled had all its passages then.
    with sqlite3.connect(db) as conn:
        after = dict(
            conn.execute(
                "SELECT f.path, COUNT(c.id) FROM files f JOIN chunks c ON c.file_id = f.id GROUP BY f.id"
            ).fetchall()
        )
    for path, chunks in listed:
        assert after[path] == chunks


def test_enclave_index_says_the_disk_is_full_in_a_sentence(
    tmp_path: Path, small_disk: Callable[[int], Path]
) -> None:
    """The command line: one plain line, no traceback (keyword index, the quick way there)."""
    import sys

    notes = make_notes(tmp_path / "notes", files=30)
    disk = small_disk(300_000)
    env = dict(os.environ, ENCLAVE_HOME=str(disk / "home"))
    done = subprocess.run(
        [sys.executable, "-m", "app", "index", "Rules", str(notes), "--no-embed"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "enclave: The disk is full: the index of “Rules” could not be saved." in done.stderr


def test_a_disk_that_fills_during_a_chat(
    small_disk: Callable[[int], Path], instruct_model_path: Path
) -> None:
    """The chat (core ChatSession, the real engine and SmolLM2): a disk that fills while an
    answer streams, then a question asked on the full disk."""
    from app.core.calls import CallQueue
    from app.core.chat.session import DISK_FULL_NOTICE, ChatSession
    from app.core.chat.store import STATUS_COMPLETE, STATUS_INTERRUPTED, ChatStore
    from app.core.engine import protocol as p
    from app.core.engine.service import EngineService

    disk = small_disk(3 * MB)
    db = disk / "enclave.db"
    calls = CallQueue()
    service = EngineService(call_soon=calls)
    loaded: list[object] = []
    service.loaded.connect(loaded.append)
    service.load(instruct_model_path, 1024, n_threads=1)
    store = ChatStore(db)
    try:
        calls.run_until(lambda: bool(loaded), timeout=120)
        session = ChatSession(store, service, call_soon=calls)
        session.base_sampling = p.SamplingParams(max_tokens=16, seed=1, temperature=0.0)
        notices: list[str] = []
        session.notice.connect(lambda text, _level: notices.append(text))
        finished: list[object] = []
        session.answer_finished.connect(finished.append)
        assert session.send("Name three colours.")
        calls.run_until(lambda: len(finished) == 1, timeout=120)
        first = finished[0]
        assert first.status == STATUS_COMPLETE  # type: ignore[attr-defined]

        # The disk fills while the next answer streams (saved at least once a second).
        session.base_sampling = p.SamplingParams(max_tokens=160, seed=1, temperature=0.0)
        tokens: list[str] = []
        session.answer_tokens.connect(lambda _m, text: tokens.append(text))
        assert session.send("Tell me a long story about a ship.")
        calls.run_until(lambda: bool(tokens), timeout=120)
        filler = fill(disk)
        calls.run_until(lambda: len(finished) == 2, timeout=180)
        second = finished[1]
        assert DISK_FULL_NOTICE in notices  # said, in a sentence
        # A question on the full disk is not sent, and says why (the window puts it back).
        notices.clear()
        assert not session.send("Are you still there?")
        assert notices == [DISK_FULL_NOTICE]
        filler.unlink()
    finally:
        store.close()
        service.shutdown()

    again = ChatStore(db)  # the next start
    try:
        assert again.integrity_ok()
        thread = again.messages(again.list_conversations()[0].id)
        assert [m.role for m in thread] == ["user", "assistant", "user", "assistant"]
        assert thread[1].content == first.content and thread[1].status == STATUS_COMPLETE  # type: ignore[attr-defined]
        story = thread[3]
        # Never "complete" with half its text: complete and whole, or interrupted with what fit.
        if story.status == STATUS_COMPLETE:
            assert story.content == second.content  # type: ignore[attr-defined]
        else:
            assert story.status == STATUS_INTERRUPTED
            assert second.content.startswith(story.content)  # type: ignore[attr-defined]
        assert all(m.content != "Are you still there?" for m in again.all_messages(thread[0].conversation_id))
    finally:
        again.close()
