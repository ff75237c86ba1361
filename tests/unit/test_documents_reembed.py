"""Another embedding model for a collection: its vectors are written beside the old model's
(schema 3), search keeps working with the old ones until every passage has a new one, then they
swap in one transaction; cancel and resume, a file changed half-way, going back. Real SQLite and,
for the end-to-end case, real llama-cpp-python with the bundled MiniLM and a copy of it under
another name (another model id, the same vectors: enough for a "model B")."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.core.cancel import CancelToken
from app.core.documents.index import DocumentIndex
from app.core.documents.index_schema import MIGRATIONS
from app.core.documents.indexer import IndexProgress, index_collection, pending_collections
from app.core.documents.search import Searcher
from tests.unit.test_documents_indexer import HashEmbedder


@pytest.fixture
def index() -> Iterator[DocumentIndex]:
    with DocumentIndex() as idx:
        yield idx


def _docs(folder: Path, n: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    topics = [
        "Employees get 27 vacation days every year.",
        "The garage opens at 6am and closes at midnight.",
        "Travel costs are refunded with form EX-12.",
        "Badges are replaced by the front desk.",
    ]
    for i in range(n):
        (folder / f"note{i:02}.txt").write_text(f"{topics[i % 4]} Note number {i}.\n")
    return folder


def _vectors(index: DocumentIndex, cid: int, column: str) -> int:
    row = index._db.execute(
        f"SELECT COUNT({column}) FROM chunks WHERE collection_id = ?", (cid,)
    ).fetchone()
    return int(row[0])


def test_a_schema_2_database_migrates_and_keeps_its_vectors(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "\nPRAGMA user_version = 2;")
    old.executescript(
        """
        INSERT INTO collections(id, name, embed_model_id, embed_dim, state, created_at, updated_at)
            VALUES (1, 'Manuals', 'hash-64', 64, 'ready', 0, 0);
        INSERT INTO files(id, collection_id, path, size, mtime_ns, status, n_chunks, indexed_at)
            VALUES (1, 1, '/m/a.txt', 1, 1, 'indexed', 1, 0);
        """
    )
    vec = HashEmbedder().embed(["vacuum reclaims storage"])[0].astype("<f4").tobytes()
    old.execute(
        "INSERT INTO chunks(id, collection_id, file_id, ordinal, text, n_tokens, embedding)"
        " VALUES (1, 1, 1, 0, 'vacuum reclaims storage', 3, ?)",
        (vec,),
    )
    old.commit()
    old.close()

    with DocumentIndex(path) as index:
        assert index._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 3
        c = index.collection("Manuals")
        assert (c.embed_model_id, c.embed_model_path, c.next_model_id) == ("hash-64", None, None)
        assert index._db.execute("SELECT next_embedding FROM chunks").fetchone()[0] is None
        hits = Searcher(index, HashEmbedder()).search(["Manuals"], "vacuum storage", mode="vector").hits
        assert [h.chunk_id for h in hits] == [1]
        # A new model: the old vector stays where search reads it until the swap.
        assert index.begin_model_change(c.id, "model-b", 64, "/models/b.gguf") == "pending"
        assert index.collection("Manuals").next_model_id == "model-b"
        assert not index.swap_model(c.id)  # its vector is not there yet
        index.set_next_vectors(c.id, [1], HashEmbedder("model-b").embed(["vacuum"]))
        assert index.next_vector_counts(c.id) == (1, 1)
        assert index.swap_model(c.id)
        after = index.collection("Manuals")
        assert (after.embed_model_id, after.embed_model_path, after.next_model_id) == (
            "model-b", "/models/b.gguf", None,
        )  # fmt: skip


def test_begin_model_change_same_new_pending_and_back(tmp_path: Path, index: DocumentIndex) -> None:
    index.create_collection("c", [_docs(tmp_path / "d", 4)])
    cid = index.collection("c").id
    # No vectors yet: the first model's go straight in.
    assert index.begin_model_change(cid, "a", 64, "/a.gguf") == "new"
    assert index.begin_model_change(cid, "a", 64, "/a.gguf") == "same"
    index_collection(index, "c", HashEmbedder("a"))
    assert index.begin_model_change(cid, "b", 64) == "pending"
    index.set_next_vectors(cid, [index.chunks_to_embed(cid, 0, 1, next_model=True)[0][0]],
                           np.ones((1, 64), dtype=np.float32))  # fmt: skip
    # The user goes back to "a" before the re-embedding ended: b's vectors are dropped.
    assert index.begin_model_change(cid, "a", 64) == "same"
    assert _vectors(index, cid, "next_embedding") == 0
    assert index.collection("c").next_model_id is None
    assert _vectors(index, cid, "embedding") == 4


def test_reembedding_is_cancellable_resumable_and_search_keeps_working(
    tmp_path: Path, index: DocumentIndex
) -> None:
    index.create_collection("c", [_docs(tmp_path / "d")])
    first = index_collection(index, "c", HashEmbedder("a"))
    cid = index.collection("c").id
    assert first.vectors_computed == 12

    # Model "b", cancelled after two batches of 4.
    cancel = CancelToken()
    seen: list[IndexProgress] = []

    def progress(p: IndexProgress) -> None:
        seen.append(p)
        if p.phase == "re-embedding" and p.files_done >= 8:
            cancel.cancel()

    b = HashEmbedder("b")
    report = index_collection(index, "c", b, progress=progress, cancel=cancel, batch_size=4)
    assert report.cancelled and report.vectors_computed == 8
    steps = [(p.files_done, p.files_total) for p in seen if p.phase == "re-embedding"]
    assert steps == [(0, 12), (4, 12), (8, 12)]
    c = index.collection("c")
    assert (c.embed_model_id, c.next_model_id) == ("a", "b")
    assert pending_collections(index) == ["c"]  # resumed at the next start
    # Search by meaning still answers from a's vectors (an embedder of a asks them).
    hits = Searcher(index, HashEmbedder("a")).search(["c"], "vacation days", mode="vector").hits
    assert hits and "vacation" in hits[0].text

    # A file changes meanwhile: it gets b's vectors only (a's would be thrown away at the swap).
    (tmp_path / "d" / "note00.txt").write_text("The canteen serves lunch from noon.\n")
    resumed: list[IndexProgress] = []
    again = index_collection(index, "c", HashEmbedder("b"), progress=resumed.append, batch_size=4)
    assert not again.cancelled and again.changed == 1
    # The changed file's passage, embedded as it is stored, + the 4 the first run had not reached
    # (the file's old passage had its new vector already: it went with the old version).
    assert again.vectors_computed == 1 + 4
    assert [(p.files_done, p.files_total) for p in resumed if p.phase == "re-embedding"] == [
        (8, 12), (12, 12),
    ]  # fmt: skip
    c = index.collection("c")
    assert (c.embed_model_id, c.next_model_id, c.state) == ("b", None, "ready")
    assert _vectors(index, cid, "embedding") == 12 and _vectors(index, cid, "next_embedding") == 0
    hits = Searcher(index, HashEmbedder("b")).search(["c"], "canteen lunch", mode="vector").hits
    assert "canteen" in hits[0].text


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory, embedding_model_path: Path) -> tuple[Path, Path]:
    """The bundled MiniLM and a copy under another name: another model id ("model B"), and the
    name matches no known model, so no prompts either."""
    copy = tmp_path_factory.mktemp("models") / "minilm-copy-Q8_0.gguf"
    shutil.copyfile(embedding_model_path, copy)
    return embedding_model_path, copy


def test_real_models_search_between_batches_and_after_the_swap(
    tmp_path: Path, index: DocumentIndex, two_models: tuple[Path, Path]
) -> None:
    from app.core.documents.local_embedder import LocalEmbedder

    path_a, path_b = two_models
    index.create_collection("c", [_docs(tmp_path / "d")])
    a = LocalEmbedder(path_a)
    index_collection(index, "c", a)
    a.close()
    cid = index.collection("c").id
    assert index.collection("c").embed_model_path == str(path_a)

    during: list[tuple[str, list[str], int]] = []
    b = LocalEmbedder(path_b)
    try:
        assert b.model_id != index.collection("c").embed_model_id
        searcher = Searcher(index, b)  # what the app builds: the newly chosen model

        def progress(p: IndexProgress) -> None:
            if p.phase == "re-embedding" and p.files_done == 4:  # between two batches
                c = index.collection("c")
                used = searcher.embedder_for(c)
                assert used is not None and used.model_id == c.embed_model_id != b.model_id
                # No word in common with the passage: found by meaning.
                result = searcher.search(["c"], "how much time off do staff have", mode="vector")
                during.append((used.model_id, [h.text for h in result.hits[:2]], len(result.hits)))

        report = index_collection(index, "c", b, progress=progress, batch_size=4)
        assert report.vectors_computed == 12 and not report.cancelled
        assert during, "no search ran between the batches"
        model_a, top, n = during[0]
        assert n >= 2 and all("vacation" in t for t in top)

        c = index.collection("c")
        assert (c.embed_model_id, c.embed_model_path, c.next_model_id) == (b.model_id, str(path_b), None)
        assert searcher.embedder_for(c) is b  # after the swap: the new model itself
        result = searcher.search(["c"], "how much time off do staff have", mode="hybrid")
        assert result.mode == "hybrid" and not result.note
        assert "vacation" in result.hits[0].text and result.hits[0].vector_rank == 1
    finally:
        b.close()
    assert _vectors(index, cid, "next_embedding") == 0 and model_a != c.embed_model_id


def test_cli_index_uses_the_chosen_model_and_reembeds(
    tmp_path: Path, two_models: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from app.cli import run_cli
    from app.core.documents.local_embedder import model_id_for
    from app.core.settings import Settings, save_settings

    path_a, path_b = two_models
    docs = _docs(tmp_path / "d", 4)
    assert run_cli(["index", "Office", str(docs), "--json"]) == 0  # no choice yet: the bundled one
    capsys.readouterr()
    with DocumentIndex() as idx:
        assert idx.collection("Office").embed_model_id == model_id_for(path_a)

    save_settings(Settings(embedding_model=str(path_b)))  # chosen in the window
    assert run_cli(["index", "Office", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["embedding_model"] == model_id_for(path_b) and report["vectors_computed"] == 4
    with DocumentIndex() as idx:
        c = idx.collection("Office")
        assert (c.embed_model_id, c.embed_model_path, c.next_model_id) == (
            model_id_for(path_b), str(path_b), None,
        )  # fmt: skip
    # Search and ask embed the question with the same (chosen) model: by meaning, no note.
    question = "how much time off do staff have"
    assert run_cli(["search-docs", "Office", question, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["mode"] == "hybrid" and not found["note"]
    assert "vacation" in found["results"][0]["text"] and found["results"][0]["vector_rank"] == 1


def _mixed_docs(folder: Path) -> list[int]:
    """20 files of one chunk each, of 1 to 20 sentences in a mixed order (tokens vary)."""
    sizes = [9, 2, 14, 5, 1, 11, 7, 3, 20, 4, 16, 8, 13, 6, 19, 10, 12, 15, 18, 17]
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(sizes):
        (folder / f"f{i:02d}.txt").write_text(" ".join(f"Fact {j} of note {i}." for j in range(n)))
    return sizes


def _prepare(index: DocumentIndex, folder: Path, phase: str) -> int:
    """A collection whose next run embeds every chunk in `phase`: "embedding" (indexed with no
    model) or "re-embedding" (indexed with another model's vectors)."""
    _mixed_docs(folder)
    index.create_collection("c", [folder])
    index_collection(index, "c", None if phase == "embedding" else HashEmbedder("a"))
    return index.collection("c").id


def _assert_own_vectors(index: DocumentIndex, cid: int, column: str) -> None:
    rows = index._db.execute(f"SELECT text, {column} FROM chunks WHERE collection_id = ?", (cid,))
    for text, blob in rows.fetchall():  # each chunk has its own text's vector (LengthEmbedder)
        expected = np.array([len(text), 1, 1, 1], dtype=np.float32)
        assert np.allclose(np.frombuffer(blob, dtype="<f4"), expected / np.linalg.norm(expected))


@pytest.mark.parametrize("phase", ["embedding", "re-embedding"])
def test_missing_and_new_model_vectors_go_in_growing_groups_shortest_first(
    tmp_path: Path, index: DocumentIndex, monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    from app.core.documents import indexer
    from tests.unit.test_documents_pipeline import LengthEmbedder

    cid = _prepare(index, tmp_path / "d", phase)
    groups: list[list[int]] = []
    real = indexer.embed_batched

    def recording(embedder: object, texts: list[str], *args: object, **kwargs: object) -> object:
        groups.append(list(kwargs["lengths"]))  # type: ignore[call-overload]
        return real(embedder, texts, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(indexer, "embed_batched", recording)
    embedder = LengthEmbedder()
    seen: list[IndexProgress] = []
    report = index_collection(index, "c", embedder, batch_size=2, flush_chunks=8, progress=seen.append)
    assert report.vectors_computed == 20 and not report.cancelled
    # As indexing's flushes: one batch, then as big as all written before, up to flush_chunks.
    assert [len(g) for g in groups] == [2, 2, 4, 8, 4]
    calls = iter(embedder.calls)
    for group in groups:  # inside a group, calls of 2, shortest texts first
        lengths = [len(t) for _ in range(len(group) // 2) for t in next(calls)]
        assert lengths == sorted(lengths)
    assert next(calls, None) is None
    # Progress after every call of 2, each count once.
    assert [p.files_done for p in seen if p.phase == phase] == list(range(0, 21, 2))
    if phase == "re-embedding":
        c = index.collection("c")
        assert (c.embed_model_id, c.next_model_id) == ("length-4", None)  # swapped
    _assert_own_vectors(index, cid, "embedding")


@pytest.mark.parametrize("phase", ["embedding", "re-embedding"])
def test_a_cancel_inside_a_sorted_group_loses_only_that_group_and_the_next_run_continues(
    tmp_path: Path, index: DocumentIndex, phase: str
) -> None:
    from tests.unit.test_documents_pipeline import LengthEmbedder

    cid = _prepare(index, tmp_path / "d", phase)
    column = "embedding" if phase == "embedding" else "next_embedding"
    cancel = CancelToken()

    def progress(p: IndexProgress) -> None:
        if p.phase == phase and p.files_done == 6:  # one call of 2 into the third group (4)
            cancel.cancel()

    first = LengthEmbedder()
    report = index_collection(index, "c", first, batch_size=2, flush_chunks=8, progress=progress,
                              cancel=cancel)  # fmt: skip
    assert report.cancelled and report.vectors_computed == 4
    assert sum(len(c) for c in first.calls) == 6  # the third group's first call, then the stop
    assert _vectors(index, cid, column) == 4  # the first two groups, none of the third
    assert pending_collections(index) == ["c"]
    if phase == "re-embedding":
        assert index.collection("c").next_model_id == "length-4"  # not swapped yet

    again = LengthEmbedder()
    resumed = index_collection(index, "c", again, batch_size=2, flush_chunks=8)
    assert not resumed.cancelled and resumed.vectors_computed == 16
    assert sum(len(c) for c in again.calls) == 16  # only what the first run had not written
    assert index.collection("c").embed_model_id == "length-4"
    _assert_own_vectors(index, cid, "embedding")
