"""A collection changes hands between the company server's embeddings and this computer's:
while it is re-embedded, a question to it is still searched by meaning, embedded by the model
that made the vectors it has (the server's, or the local file's), not by keywords only.

Real parts: llama-cpp-python's own OpenAI-compatible server on 127.0.0.1 serving the bundled
MiniLM (tests/llama_server.py), the app's engine host embedding locally (EngineClient), real
SQLite. The server and the local file are the same model, but their ids differ (one names the
server), so the index treats them as two models, as it must."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.cancel import CancelToken
from app.core.documents.engine_embedder import EngineEmbedder
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import IndexProgress, index_collection
from app.core.documents.remote_embedder import RemoteEmbedder, embedder_for_settings
from app.core.documents.search import Searcher
from app.core.engine.client import EngineClient
from app.core.engine.remote import RemoteEngine
from app.core.settings import Settings
from tests.llama_server import LlamaServer

pytestmark = pytest.mark.e2e

TOPICS = [
    "Employees get 27 vacation days every year.",
    "The garage opens at 6am and closes at midnight.",
    "Travel costs are refunded with form EX-12.",
    "Badges are replaced by the front desk.",
]


@pytest.fixture(scope="module")
def server(embedding_model_path: Path) -> Iterator[LlamaServer]:
    with LlamaServer(embedding_model_path, alias="all-MiniLM-L6-v2", embedding=True, n_threads=1) as running:
        yield running


@pytest.fixture
def local() -> Iterator[EngineClient]:
    client = EngineClient()
    yield client
    client.shutdown()


def _folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(12):
        (root / f"note{i:02}.txt").write_text(f"{TOPICS[i % 4]} Note number {i}.\n")
    return root


def _stop_half_way(index: DocumentIndex, name: str, embedder: object) -> None:
    """Start re-embedding the collection and cancel it after the first group of 4."""
    cancel = CancelToken()

    def progress(p: IndexProgress) -> None:
        if p.phase == "re-embedding" and p.files_done >= 4:
            cancel.cancel()

    report = index_collection(index, name, embedder, progress=progress, cancel=cancel, batch_size=4)  # type: ignore[arg-type]
    assert report.cancelled and 0 < report.vectors_computed < 12


def _move_half_way_and_search(index: DocumentIndex, old: object, new: object) -> None:
    """Re-embed the collection from `old`'s vectors for `new`, stop half-way, and search with
    `new` (the app's embedder now): by meaning, through the old model, the right passage."""
    _stop_half_way(index, "c", new)
    c = index.collection("c")
    assert (c.embed_model_id, c.next_model_id) == (old.model_id, new.model_id)  # type: ignore[attr-defined]
    mode, top, note = _search_by_meaning(index, new)
    assert (mode, note) == ("vector", None) and "vacation" in top


def _search_by_meaning(index: DocumentIndex, embedder: object) -> tuple[str, str, str | None]:
    result = Searcher(index, embedder).search(["c"], "how many days off do I get?", mode="vector")  # type: ignore[arg-type]
    return result.mode, (result.hits[0].text if result.hits else ""), result.note


def test_search_by_meaning_keeps_working_both_ways_while_the_collection_is_reembedded(
    server: LlamaServer, local: EngineClient, tmp_path: Path
) -> None:
    engine = RemoteEngine(server.url, None, "")  # connected to the company's server
    on_server = embedder_for_settings(Settings(server_embeddings=True), engine, local=local)
    on_this_computer = embedder_for_settings(Settings(server_embeddings=False), engine, local=local)
    assert isinstance(on_server, RemoteEmbedder) and isinstance(on_this_computer, EngineEmbedder)

    with DocumentIndex(tmp_path / "documents.db") as index:
        index.create_collection("c", [_folder(tmp_path / "docs")])
        index_collection(index, "c", on_server)
        assert index.collection("c").embed_model_id == on_server.model_id

        # Server -> this computer, stopped half-way: the server's vectors answer, the question
        # embedded by the server (before: "indexed with another embedding model", keywords).
        _move_half_way_and_search(index, on_server, on_this_computer)

        # Without the server connected now, that collection can only be searched by keywords,
        # and the answer says so.
        offline = embedder_for_settings(Settings(), local, local=local)
        mode, _top, note = _search_by_meaning(index, offline)
        assert mode == "bm25" and note and "another embedding model" in note

        # Finished on this computer, then back to the server, stopped half-way: the local
        # file's vectors answer, the question embedded on this computer.
        index_collection(index, "c", on_this_computer)
        assert index.collection("c").embed_model_id == on_this_computer.model_id
        _move_half_way_and_search(index, on_this_computer, on_server)
