"""The incremental indexing job and the SQLite index: per-file errors, skipped files, re-index
after a change or a deletion, cancel and resume after a restart, embedding model changes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.core.cancel import CancelToken
from app.core.documents.index import CollectionNotFound, DocumentIndex, default_db_path
from app.core.documents.index_schema import MIGRATIONS
from app.core.documents.indexer import (
    IndexProgress,
    index_collection,
    pending_collections,
)
from app.core.documents.search import Searcher
from tests.fixtures.documents.builders import (
    ENCRYPTED_PDF,
    write_corrupt_pdf,
    write_docx,
    write_pdf,
)


class HashEmbedder:
    """Bag-of-words hashed into 64 dims: instant, deterministic, good enough to test plumbing."""

    def __init__(self, model_id: str = "hash-64", fail: bool = False) -> None:
        self.model_id = model_id
        self.dim = 64
        self.calls = 0
        self.fail = fail

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.fail:
            raise RuntimeError("engine crashed")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out + 1e-3


def make_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_pdf(
        folder / "report.pdf",
        [
            [f"Revenue in quarter {q} of 2023 was {q + 1}.2 million euros. " * 6 for q in range(4)],
            ["Employees get 27 vacation days."],
        ],
    )
    write_docx(folder / "handbook.docx", [("Expenses", ["Use form EX-12 for travel costs."])])
    (folder / "notes.md").write_text("# Parking\n\nThe garage opens at 6am.\n")
    sub = folder / "sub"
    sub.mkdir(exist_ok=True)
    (sub / "faq.txt").write_text("Badges are replaced by the front desk.\n")
    (sub / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (folder / ".git").mkdir(exist_ok=True)
    (folder / ".git" / "config").write_text("hidden, never indexed")
    shutil.copy(ENCRYPTED_PDF, folder / "secret.pdf")
    write_corrupt_pdf(folder / "broken.pdf")
    return folder


@pytest.fixture
def index() -> Iterator[DocumentIndex]:
    with DocumentIndex() as idx:
        yield idx


def test_database_location_schema_and_wal(index: DocumentIndex) -> None:
    assert index.path == default_db_path()
    assert index.path.parent.parent == Path(os.environ["ENCLAVE_HOME"])
    db = sqlite3.connect(index.path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Opening again does not migrate twice.
    DocumentIndex(index.path).close()


def test_first_run_reports_failures_and_skips_and_goes_on(
    tmp_path: Path, index: DocumentIndex
) -> None:
    docs = make_docs(tmp_path / "docs")
    index.create_collection("Company", [docs])
    seen: list[IndexProgress] = []
    report = index_collection(index, "Company", HashEmbedder(), progress=seen.append)

    assert report.added == 4  # pdf, docx, md, txt
    assert {Path(i.path).name: i.kind for i in report.failed} == {
        "secret.pdf": "password",
        "broken.pdf": "corrupt",
    }
    assert [(Path(i.path).name, i.reason) for i in report.skipped] == [
        ("clip.mp4", "unsupported format (.mp4)")
    ]
    assert report.chunks_added == report.vectors_computed >= 4
    assert report.pages == 2
    assert seen[0].phase == "scanning" and seen[-1].phase == "done"
    assert max(p.files_total for p in seen) == 6
    assert seen[-1].files_done == 6

    collection = index.collection("Company")
    assert collection.state == "ready"
    assert collection.n_files == 6 and collection.n_errors == 2
    assert collection.embed_model_id == "hash-64"

    # BM25: the hashed vectors put a revenue chunk first by collisions (cosine 0.14 vs 0.05),
    # and hybrid no longer lets a keyword hit outrun the vectors' clear first (search.py).
    hits = Searcher(index, HashEmbedder()).search(["Company"], "vacation days", k=3, mode="bm25").hits
    # Chunks are sized in MiniLM tokens (<= 254): the last page-1 paragraph and page 2 share one.
    assert hits[0].source_label == "report.pdf pp. 1-2"


def test_only_changed_files_are_processed(tmp_path: Path, index: DocumentIndex) -> None:
    docs = make_docs(tmp_path / "docs")
    index.create_collection("c", [docs])
    embedder = HashEmbedder()
    index_collection(index, "c", embedder)

    again = index_collection(index, "c", embedder)
    assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 0, 6)
    assert again.chunks_added == 0

    # Same bytes, new mtime: hashed, not re-extracted.
    before = {h.chunk_id for h in Searcher(index).search(["c"], "garage", k=5).hits}
    os.utime(docs / "notes.md", ns=(10**18, 10**18))
    touched = index_collection(index, "c", embedder)
    assert (touched.changed, touched.unchanged, touched.chunks_added) == (0, 6, 0)
    assert {h.chunk_id for h in Searcher(index).search(["c"], "garage", k=5).hits} == before

    # Content changed, one file deleted, one added.
    (docs / "notes.md").write_text("# Parking\n\nThe garage now opens at 7am.\n")
    (docs / "sub" / "faq.txt").unlink()
    (docs / "new.txt").write_text("The cafeteria serves soup on Fridays.\n")
    report = index_collection(index, "c", embedder)
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    searcher = Searcher(index, embedder)
    assert "7am" in searcher.search(["c"], "garage opens", k=1, mode="bm25").hits[0].text
    assert searcher.search(["c"], "badges front desk", k=5, mode="bm25").hits == []
    assert searcher.search(["c"], "soup", k=1).hits[0].file_name == "new.txt"

    # A root that disappears (unplugged drive) keeps its files, and is reported.
    moved = tmp_path / "moved"
    docs.rename(moved)
    gone = index_collection(index, "c", embedder)
    assert gone.removed == 0 and [i.kind for i in gone.failed] == ["missing"]
    assert index.collection("c").n_files == 6


def test_cancel_then_resume_after_restart(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(8):
        (docs / f"doc{i}.txt").write_text(f"Document number {i} talks about topic{i}.\n")
    cancel = CancelToken()

    def stop_after_three(p: IndexProgress) -> None:
        if p.phase == "indexing" and p.files_done >= 3:
            cancel.cancel()

    with DocumentIndex() as index:
        index.create_collection("c", [docs])
        report = index_collection(
            index, "c", HashEmbedder(), progress=stop_after_three, cancel=cancel
        )
        assert report.cancelled
        assert 0 < report.added < 8
        assert pending_collections(index) == ["c"]
        first = report.added

    with DocumentIndex() as index:  # "after a restart"
        assert pending_collections(index) == ["c"]
        resumed = index_collection(index, "c", HashEmbedder())
        assert not resumed.cancelled
        assert resumed.added == 8 - first and resumed.unchanged == first
        assert pending_collections(index) == []
        assert index.count_missing_vectors(index.collection("c").id) == 0
        assert index.collection("c").n_chunks == 8


def test_no_embedder_then_model_then_another_model(tmp_path: Path, index: DocumentIndex) -> None:
    docs = make_docs(tmp_path / "docs")
    index.create_collection("c", [docs])
    report = index_collection(index, "c", None, no_embedder_reason="model missing")
    assert report.note and "keyword" in report.note
    cid = index.collection("c").id
    assert index.count_missing_vectors(cid) == report.chunks_added

    result = Searcher(index, None, "model missing").search(["c"], "vacation days")
    assert result.mode == "bm25"
    assert (
        result.note == "No embedding model available (model missing): keyword search (BM25) only."
    )
    assert result.hits[0].file_name == "report.pdf"

    # A model appears: the next run embeds what is missing, without re-extracting.
    filled = index_collection(index, "c", HashEmbedder("model-a"))
    assert filled.chunks_added == 0 and filled.vectors_computed == report.chunks_added
    assert Searcher(index, HashEmbedder("model-a")).search(["c"], "garage").mode == "hybrid"

    # The user picks another model: vectors are recomputed, the old ones are not mixed in.
    other = index_collection(index, "c", HashEmbedder("model-b"))
    assert other.vectors_computed == report.chunks_added
    assert index.collection("c").embed_model_id == "model-b"
    stale = Searcher(index, HashEmbedder("model-a")).search(["c"], "garage")
    assert stale.mode == "bm25" and stale.note and "another embedding model" in stale.note


def test_embedding_failure_keeps_text_searchable(tmp_path: Path, index: DocumentIndex) -> None:
    docs = make_docs(tmp_path / "docs")
    index.create_collection("c", [docs])
    report = index_collection(index, "c", HashEmbedder(fail=True))
    assert report.added == 4 and report.vectors_computed == 0
    assert report.note and "keywords only" in report.note
    assert Searcher(index).search(["c"], "garage", mode="bm25").hits


def test_collections_api(tmp_path: Path, index: DocumentIndex) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    index.create_collection("Docs", [a])
    with pytest.raises(ValueError, match="already exists"):
        index.create_collection("Docs")
    assert index.add_roots("Docs", [b]).roots == [str(a), str(b)]
    assert index.remove_roots("Docs", [a]).roots == [str(b)]
    assert [c.name for c in index.collections()] == ["Docs"]
    index.delete_collection("Docs")
    with pytest.raises(CollectionNotFound):
        index.collection("Docs")
    with pytest.raises(CollectionNotFound):
        Searcher(index).search(["Docs"], "x")


def test_bm25_drops_words_found_everywhere_in_big_collections(
    tmp_path: Path, index: DocumentIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.documents import search

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(30):
        (docs / f"d{i}.txt").write_text(f"Company policy number {i} covers topic{i}.\n")
    cid = index.create_collection("c", [docs]).id
    index_collection(index, "c", None)
    monkeypatch.setattr(search, "PRUNE_FROM_CHUNKS", 10)
    searcher = Searcher(index)
    assert searcher._bm25_match("company policy topic7", [cid], 30) == '"topic7"'
    assert searcher._bm25_match("company policy", [cid], 30) == '"company" AND "policy"'
    assert (
        searcher.search(["c"], "company policy topic7", mode="bm25").hits[0].file_name == "d7.txt"
    )
