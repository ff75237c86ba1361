"""Search with the real bundled embedding model: a labeled retrieval set, source labels,
prompt packing with numbered sources and citations, and the CLI commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.cli import run_cli
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import index_collection
from app.core.documents.local_embedder import LocalEmbedder
from app.core.documents.prompting import (
    build_messages,
    citation_lines,
    cited_numbers,
    pack_sources,
)
from app.core.documents.search import Hit, Searcher
from tests.fixtures.documents.labeled import build_corpus, recall_at_k


@pytest.fixture(scope="module")
def embedder(embedding_model_path: Path) -> Iterator[LocalEmbedder]:
    model = LocalEmbedder(embedding_model_path)
    yield model
    model.close()


def test_local_embedder_truncates_and_normalises(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed(["a cat sits on the mat", "a kitten rests on a rug", "word " * 3000])
    assert vectors.shape == (3, 384) and embedder.dim == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert float(vectors[0] @ vectors[1]) > 0.5


def test_labeled_retrieval_hybrid_beats_each_alone(tmp_path: Path, embedder: LocalEmbedder) -> None:
    labeled = build_corpus(tmp_path / "docs", n_code_questions=12, n_projects=24)
    with DocumentIndex() as index:
        index.create_collection("Company", [tmp_path / "docs"])
        report = index_collection(index, "Company", embedder)
        assert not report.failed and report.vectors_computed == report.chunks_added
        searcher = Searcher(index, embedder)
        recall = {}
        for mode in ("bm25", "vector", "hybrid"):
            ranked = [
                [h.file_name for h in searcher.search(["Company"], q.question, 5, mode).hits]
                for q in labeled
            ]
            recall[mode] = recall_at_k(ranked, labeled, 5)
        print("recall@5", recall)
        assert recall["hybrid"] >= 0.85
        assert recall["hybrid"] > recall["bm25"]
        assert recall["hybrid"] >= recall["vector"]

        hit = searcher.search(["Company"], "refund for a plane ticket", 1).hits[0]
        assert hit.source_label == "travel.pdf p. 1"
        assert searcher.search(["Company"], "sick doctor", 3).hits[0].heading == "Illness"


def _hit(i: int, text: str, page: int | None = 1) -> Hit:
    return Hit(i, "c", f"/docs/file{i}.pdf", page, page, None, text, 1.0 / i, i, i)


def test_pack_sources_numbers_within_budget_and_cites() -> None:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    hits = [_hit(i, sentence * 20) for i in range(1, 6)]  # ~280 tokens each
    packed = pack_sources(hits, budget_tokens=700)
    assert [s.number for s in packed.sources] == [1, 2, 3]
    assert packed.sources[2].text.endswith("[...]")  # the third is cut to fit
    assert packed.tokens <= 700 and packed.dropped == 2
    assert packed.context.startswith("[1] file1.pdf p. 1\n")

    messages = build_messages("Where does the fox jump?", packed)
    assert messages[0]["role"] == "system" and "[2] file2.pdf p. 1" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "Where does the fox jump?"}

    answer = "It jumps near the river [2], as of [2019] and [1]."
    assert cited_numbers(answer, packed) == [2, 1]
    assert citation_lines(packed, answer) == ["[1] file1.pdf p. 1", "[2] file2.pdf p. 1"]
    assert len(citation_lines(packed, "no citations here")) == 3


def test_cli_index_search_and_ask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    build_corpus(docs, n_code_questions=0, n_projects=0)
    (docs / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")

    assert run_cli(["index", "Company", str(docs)]) == 0
    out = capsys.readouterr().out
    assert "12 added" in out and "skipped" in out and "clip.mp4" in out

    assert run_cli(["search-docs", "Company", "portable PC missing", "--json", "-k", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == "hybrid" and result["note"] is None
    top = result["results"][0]
    assert top["source"] == "security.docx - Laptop protection"
    assert top["rank"] == 1 and top["score"] > 0 and "encryption" in top["text"]

    assert run_cli(["search-docs", "Company", "canteen lunch", "--no-embed"]) == 0
    captured = capsys.readouterr()
    assert "keyword search (BM25) only" in captured.err
    assert "canteen.html - Canteen" in captured.out

    assert run_cli(["ask", "Company", "When is lunch served?"]) == 0
    out = capsys.readouterr().out
    assert "[1] canteen.html - Canteen" in out and "--- system ---" in out

    assert run_cli(["search-docs", "Nope", "x"]) == 1
    assert "no collection named 'Nope'" in capsys.readouterr().err


def test_hybrid_keeps_the_vectors_clear_first(tmp_path: Path, embedder: LocalEmbedder) -> None:
    """BM25 re-orders the passages the vectors found close, it does not bury their clear first:
    a page that only shares the question's words (and is far behind in cosine) must not
    outrank it. With the old fusion (60 vector candidates, RRF_K 60) it did: the reason hybrid
    was worse than vectors alone on PostgreSQL's manual (search.py, the constants)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.txt").write_text(
        "Reimbursement of travel costs: a cancelled plane ticket is paid back to the employee "
        "within 30 days, with the airline's receipt."
    )
    (docs / "words.txt").write_text(
        "Get the money machine in the lobby back to work: a flight of stairs leads to it."
    )
    for i in range(6):
        (docs / f"other{i}.txt").write_text(f"Meeting room {i} has a projector and {i + 4} chairs.")
    question = "How do I get my money back for a flight?"
    with DocumentIndex() as index:
        index.create_collection("Company", [docs])
        index_collection(index, "Company", embedder)
        searcher = Searcher(index, embedder)
        vec = searcher.search(["Company"], question, 3, "vector").hits
        bm25 = searcher.search(["Company"], question, 3, "bm25").hits
        assert vec[0].file_name == "refunds.txt" and bm25[0].file_name == "words.txt"
        words = next(h for h in vec if h.file_name == "words.txt")
        assert vec[0].score - words.score > 0.1  # the vectors' first is clear (0.16 here)
        assert searcher.search(["Company"], question, 3, "hybrid").hits[0].file_name == "refunds.txt"
