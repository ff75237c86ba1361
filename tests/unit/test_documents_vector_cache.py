"""The searcher's vector cache follows writes by reading only what changed: after adds,
deletes, re-embedding, a model change, row ids SQLite reuses and a database made anew at the
same path it holds exactly what a full load would, and a small write costs a small read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.core.documents.chunking import Chunk
from app.core.documents.index import DocumentIndex
from app.core.documents.search import Searcher, _cached_vectors, clear_vector_cache

DIM = 8


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    clear_vector_cache()
    yield
    clear_vector_cache()


def _unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _store(index: DocumentIndex, cid: int, name: str, n: int, vectors: np.ndarray | None) -> list[int]:
    index.store_file(
        cid,
        f"/docs/{name}",
        size=n,
        mtime_ns=n,
        sha256=name,
        status="indexed",
        chunks=[Chunk(f"{name} part {i}", f"/docs/{name}", None, None, None, i, 3) for i in range(n)],
        vectors=vectors,
    )
    return [
        int(r[0])
        for r in index._db.execute(
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.ordinal",
            (f"/docs/{name}",),
        )
    ]


def _cached(index: DocumentIndex, cid: int) -> dict[int, np.ndarray]:
    generation = next(c.generation for c in index.collections() if c.id == cid)
    ids, matrix = _cached_vectors(index, cid, generation)
    assert len(ids) == len(set(ids.tolist())), "a chunk held twice"
    return {int(i): matrix[k].copy() for k, i in enumerate(ids)}


def _truth(index: DocumentIndex, cid: int) -> dict[int, np.ndarray]:
    ids, matrix = index.load_vectors(cid)
    return {int(i): matrix[k].copy() for k, i in enumerate(ids)}


def _same(index: DocumentIndex, cid: int) -> int:
    """Refresh the cache, check it against a full load; return the blobs the refresh read."""
    before = index.vector_rows_read
    cached = _cached(index, cid)
    read = index.vector_rows_read - before
    truth = _truth(index, cid)
    assert cached.keys() == truth.keys()
    for i, v in truth.items():
        assert np.array_equal(cached[i], v), i
    return read


def test_cache_follows_adds_deletes_reembedding_and_reads_only_new_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with DocumentIndex(tmp_path / "d.db") as index:
        cid = index.create_collection("c").id
        other = index.create_collection("other").id
        index.set_embedding_model(cid, "m1", DIM)
        index.set_embedding_model(other, "m1", DIM)
        _store(index, cid, "a.txt", 300, _unit(rng, 300))
        _store(index, other, "o.txt", 50, _unit(rng, 50))
        assert _same(index, cid) == 300  # the first load reads them all

        # A file added with its vectors: the refresh reads its rows and nothing else.
        b = _store(index, cid, "b.txt", 20, _unit(rng, 20))
        assert _same(index, cid) == 20
        # The indexer's path: chunks first, then a batch of 32 vectors, then the rest.
        c = _store(index, cid, "c.txt", 40, None)
        assert _same(index, cid) == 0
        index.set_vectors(cid, c[:32], _unit(rng, 32))
        assert _same(index, cid) == 32
        index.set_vectors(cid, c[32:], _unit(rng, 8))
        assert _same(index, cid) == 8
        # Another collection's writes cost this one nothing.
        _store(index, other, "o2.txt", 10, _unit(rng, 10))
        assert _same(index, cid) == 0

        # Re-embedding chunks already held replaces them (no duplicates, new values).
        index.set_vectors(cid, b[:5], _unit(rng, 5))
        assert _same(index, cid) == 5

        # Removing a file drops its rows without reading a blob.
        a_ids = _truth(index, cid).keys() - set(b) - set(c)
        index.remove_file(cid, index.files(cid)["/docs/b.txt"].id)
        assert _same(index, cid) == 0
        assert not set(b) & _cached(index, cid).keys()
        assert a_ids <= _cached(index, cid).keys()

        # A changed file re-stored: old chunks gone, new ones read.
        _store(index, cid, "c.txt", 12, _unit(rng, 12))
        assert _same(index, cid) == 12

        # Clearing a vector (as a model change does row by row) drops the row.
        index._db.execute("UPDATE chunks SET embedding = NULL WHERE id = ?", (min(a_ids),))
        index._db.execute("UPDATE collections SET generation = generation + 1 WHERE id = ?", (cid,))
        assert _same(index, cid) == 0
        assert min(a_ids) not in _cached(index, cid)


def test_a_model_change_reloads_and_a_reused_row_id_is_refreshed(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    with DocumentIndex(tmp_path / "d.db") as index:
        cid = index.create_collection("c").id
        index.set_embedding_model(cid, "m1", DIM)
        _store(index, cid, "a.txt", 30, _unit(rng, 30))
        last = _store(index, cid, "z.txt", 10, _unit(rng, 10))
        assert _same(index, cid) == 40

        # The highest rows deleted, then new rows: SQLite hands out the same ids again.
        index.remove_file(cid, index.files(cid)["/docs/z.txt"].id)
        again = _store(index, cid, "y.txt", 10, _unit(rng, 10))
        assert again == last  # the case under test: same ids, other vectors
        assert _same(index, cid) == 10
        # Reused without a vector: the id is not held.
        index.remove_file(cid, index.files(cid)["/docs/y.txt"].id)
        assert _store(index, cid, "x.txt", 10, None) == last
        assert _same(index, cid) == 0
        assert not set(last) & _cached(index, cid).keys()

        # Another model (and dimension): the cache starts over, with the new vectors only.
        assert index.set_embedding_model(cid, "m2", 4) == 30
        assert _same(index, cid) == 0 and _cached(index, cid) == {}
        missing = [i for i, _, _ in index.chunks_to_embed(cid, 0, 7)]
        index.set_vectors(cid, missing, _unit(rng, 7, 4))
        assert _same(index, cid) == 7
        assert all(v.shape == (4,) for v in _cached(index, cid).values())


def test_a_database_made_anew_at_the_same_path_is_not_mistaken_for_the_old(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "d.db"
    for round_ in range(2):
        with DocumentIndex(path) as index:
            cid = index.create_collection("c").id
            index.set_embedding_model(cid, "m1", DIM)
            _store(index, cid, "a.txt", 5, _unit(rng, 5))
            assert _same(index, cid) == 5, round_  # round 2: same ids, seqs, generation
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_vector_search_sees_a_batch_right_after_it_is_written(tmp_path: Path) -> None:
    class Fixed:
        model_id, dim = "m1", DIM

        def __init__(self) -> None:
            self.query = np.zeros(DIM, dtype=np.float32)

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.stack([self.query for _ in texts])

    rng = np.random.default_rng(3)
    embedder = Fixed()
    with DocumentIndex(tmp_path / "d.db") as index:
        cid = index.create_collection("c").id
        index.set_embedding_model(cid, "m1", DIM)
        _store(index, cid, "a.txt", 100, _unit(rng, 100))
        searcher = Searcher(index, embedder)
        embedder.query = _unit(rng, 1)[0]
        searcher.search(["c"], "q", mode="vector")
        new = _store(index, cid, "b.txt", 32, None)
        index.set_vectors(cid, new, np.tile(embedder.query, (32, 1)))
        before = index.vector_rows_read
        hits = searcher.search(["c"], "q", k=32, mode="vector").hits
        assert {h.chunk_id for h in hits} == set(new)
        assert index.vector_rows_read - before == 32
