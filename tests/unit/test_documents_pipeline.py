"""Indexing is a pipeline: the next files are extracted on a second thread while the ones
before them are embedded, results are stored in the files' order, and Cancel stops both."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.core.cancel import CancelToken
from app.core.documents import file_prefetch, indexer
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
    real = file_prefetch.extract_file

    def recording(path: Path, *args: object, **kwargs: object) -> object:
        extracted.append((path.name, time.monotonic(), threading.current_thread().name))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(file_prefetch, "extract_file", recording)
    embedder = SlowEmbedder(0.3)
    with DocumentIndex(tmp_path / "i.db") as idx:
        idx.create_collection("c", [docs])
        report = index_collection(idx, "c", embedder, batch_size=1)
        files = idx.files(idx.collection("c").id)
    assert report.added == 6 and report.vectors_computed == report.chunks_added == 6
    assert all(r.status == "indexed" and r.n_chunks == 1 for r in files.values())
    assert [name for name, _, _ in extracted] == [f"note{i:02d}.txt" for i in range(6)]
    assert {thread for _, _, thread in extracted} == {"index-prefetch"}
    # Later files were extracted before the first file's vectors were done (one after the
    # other, the second file would be read only after them). Before or during the first
    # embedding, as the threads were scheduled: a busy machine may run the prefetch ahead.
    _first_start, first_end = embedder.spans[0]
    assert sum(t < first_end for _name, t, _thread in extracted[1:]) >= 2, (extracted, embedder.spans)
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


class LengthEmbedder:
    """A vector that says which text it is for (its length in characters, then ones), and the
    texts of every call."""

    model_id = "length-4"
    dim = 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), 1, 1, 1] for t in texts], dtype=np.float32)


def test_flushes_grow_and_each_is_embedded_shortest_first_with_every_vector_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    docs = tmp_path / "docs"
    docs.mkdir()
    # One chunk per file, of n sentences: more sentences, more tokens. Lengths mixed.
    sizes = [9, 2, 14, 5, 1, 11, 7, 3, 20, 4, 16, 8, 13, 6, 19, 10, 12, 15, 18, 17]
    for i, n in enumerate(sizes):
        (docs / f"f{i:02d}.txt").write_text(" ".join(f"Fact {j} of note {i}." for j in range(n)))
    flushes: list[list[int]] = []
    real = indexer.embed_batched

    def recording(embedder: object, texts: list[str], *args: object, **kwargs: object) -> object:
        flushes.append(list(kwargs["lengths"]))  # type: ignore[call-overload]
        return real(embedder, texts, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(indexer, "embed_batched", recording)
    embedder = LengthEmbedder()
    with DocumentIndex(tmp_path / "i.db") as idx:
        idx.create_collection("c", [docs])
        report = index_collection(idx, "c", embedder, batch_size=2, flush_chunks=8)
    assert report.vectors_computed == len(sizes)
    # The first flush is one batch, then each as big as all before it, up to flush_chunks.
    assert [len(f) for f in flushes] == [2, 2, 4, 8, 4]
    done = 0
    for flush in flushes:  # inside a flush, calls of 2, the shortest texts first
        calls = embedder.calls[done : done + (len(flush) + 1) // 2]
        done += len(calls)
        assert [len(c) for c in calls] == [2] * (len(flush) // 2)
        lengths = [len(t) for call in calls for t in call]
        assert lengths == sorted(lengths)
    with sqlite3.connect(tmp_path / "i.db") as conn:
        rows = conn.execute("SELECT text, embedding FROM chunks").fetchall()
    assert len(rows) == len(sizes)
    for text, blob in rows:  # stored in document order: each chunk has its own text's vector
        vector = np.frombuffer(blob, dtype="<f4")
        expected = np.array([len(text), 1, 1, 1], dtype=np.float32)
        assert np.allclose(vector, expected / np.linalg.norm(expected))


def test_embed_batched_in_length_order_returns_rows_in_text_order() -> None:
    from app.core.documents.embedding import embed_batched

    texts = ["ccc", "a", "bbbb", "dd", "eeeee"]
    embedder = LengthEmbedder()
    done: list[int] = []
    out = embed_batched(embedder, texts, 2, on_batch=done.append, lengths=[len(t) for t in texts])
    assert embedder.calls == [["a", "dd"], ["ccc", "bbbb"], ["eeeee"]]
    assert done == [2, 4, 5]
    assert [round(float(v[0] / v[1])) for v in out] == [3, 1, 4, 2, 5]
    # Stopped half-way: the rows done are not a prefix of the texts, so none come back.
    stop = iter([False, True])
    part = embed_batched(embedder, texts, 2, should_stop=lambda: next(stop), lengths=[1] * 5)
    assert part.shape == (0, 4)
