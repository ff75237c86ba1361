"""Indexing is a pipeline: the next files are extracted on a second thread while the ones
before them are embedded, results are stored in the files' order, and Cancel stops both."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.core.cancel import CancelToken
from app.core.documents import indexer
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import index_collection


class SlowEmbedder:
    """Real enough for plumbing: a fixed vector per text, after a delay like a real model's."""

    model_id = "slow-8"
    dim = 8

    def __init__(self, seconds: float, on_call: object = None) -> None:
        self.seconds = seconds
        self.spans: list[tuple[float, float]] = []
        self.on_call = on_call

    def embed(self, texts: list[str]) -> np.ndarray:
        start = time.monotonic()
        if callable(self.on_call):
            self.on_call()
        time.sleep(self.seconds)
        self.spans.append((start, time.monotonic()))
        return np.ones((len(texts), self.dim), dtype=np.float32)


def _docs(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"note{i:02d}.txt").write_text(f"Note number {i} is about topic {i}. " * 5)
    return folder


def test_extraction_overlaps_embedding_and_order_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _docs(tmp_path / "docs", 6)
    extracted: list[tuple[str, float, str]] = []
    real = indexer.extract_file

    def recording(path: Path, *args: object, **kwargs: object) -> object:
        extracted.append((path.name, time.monotonic(), threading.current_thread().name))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(indexer, "extract_file", recording)
    embedder = SlowEmbedder(0.3)
    with DocumentIndex(tmp_path / "i.db") as idx:
        idx.create_collection("c", [docs])
        report = index_collection(idx, "c", embedder, batch_size=1)
        files = idx.files(idx.collection("c").id)
    assert report.added == 6 and report.vectors_computed == report.chunks_added == 6
    assert all(r.status == "indexed" and r.n_chunks == 1 for r in files.values())
    assert [name for name, _, _ in extracted] == [f"note{i:02d}.txt" for i in range(6)]
    assert {thread for _, _, thread in extracted} == {"index-prefetch"}
    # While the first file's vectors were being computed, later files were already extracted.
    first_start, first_end = embedder.spans[0]
    assert any(first_start < t < first_end for name, t, _ in extracted[1:])
    assert not [t for t in threading.enumerate() if t.name == "index-prefetch"]


def test_cancel_during_embedding_stops_the_prefetch_and_resumes_later(tmp_path: Path) -> None:
    docs = _docs(tmp_path / "docs", 20)
    cancel = CancelToken()
    calls = [0]

    def count() -> None:
        calls[0] += 1
        if calls[0] == 2:
            cancel.cancel()

    with DocumentIndex(tmp_path / "i.db") as idx:
        idx.create_collection("c", [docs])
        first = index_collection(idx, "c", SlowEmbedder(0.05, count), batch_size=1, cancel=cancel)
        assert first.cancelled and first.added < 20
        assert not [t for t in threading.enumerate() if t.name == "index-prefetch"]
        again = index_collection(idx, "c", SlowEmbedder(0.0), batch_size=1)
        assert not again.cancelled
        assert again.added + first.added == 20
        assert len(idx.files(idx.collection("c").id)) == 20
