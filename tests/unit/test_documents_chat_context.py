"""prepare_document_messages: retrieval with the real embedding model, numbered sources in the
system message, the context budget, the keyword-only fallback and its note."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.documents.chat_context import SourceRef, prepare_document_messages
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import index_collection
from app.core.documents.local_embedder import LocalEmbedder
from tests.fixtures.documents.builders import write_docx, write_pdf

QUESTION = "How many vacation days do employees get?"


@pytest.fixture(scope="module")
def embedder(embedding_model_path: Path) -> Iterator[LocalEmbedder]:
    model = LocalEmbedder(embedding_model_path)
    yield model
    model.close()


@pytest.fixture
def index(tmp_path: Path, embedder: LocalEmbedder) -> Iterator[DocumentIndex]:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(
        docs / "handbook.pdf",
        [
            ["Welcome to the company. This handbook explains how we work together."],
            ["Employees get 27 vacation days per year, plus public holidays."],
        ],
    )
    write_docx(docs / "travel.docx", [("Expenses", ["Use form EX-12 for travel costs."])])
    (docs / "parking.md").write_text("# Parking\n\nThe garage opens at 6am on weekdays.\n")
    with DocumentIndex() as idx:
        idx.create_collection("HR", [docs])
        index_collection(idx, "HR", embedder)
        yield idx


def test_numbered_sources_hold_the_passage_and_cite_instructions(
    index: DocumentIndex, embedder: LocalEmbedder
) -> None:
    doc = prepare_document_messages(
        embedder, QUESTION, [], ["HR"], n_ctx=2048, answer_tokens=256,
        system_prompt="You are terse.", index=index,
    )
    assert doc.note is None
    first = doc.sources[0]
    # Page 1 is short, so the chunk spans both pages: "handbook.pdf pp. 1-2".
    assert first.number == 1 and first.label.startswith("handbook.pdf p") and first.page
    assert "27 vacation days" in first.passage and first.file.endswith("handbook.pdf")
    assert [s.number for s in doc.sources] == list(range(1, len(doc.sources) + 1))
    system, user = doc.messages[0], doc.messages[-1]
    assert system["role"] == "system" and user == {"role": "user", "content": QUESTION}
    assert system["content"].startswith("You are terse.")
    assert f"[1] {first.label}" in system["content"] and "square brackets" in system["content"]
    assert SourceRef.from_dict(first.to_dict()) == first


def test_without_an_embedder_it_uses_keywords_and_says_so(index: DocumentIndex) -> None:
    doc = prepare_document_messages(
        None, "vacation days", [], ["HR"], 2048, 256, "", index=index
    )
    assert doc.note and "keyword search (BM25)" in doc.note
    assert "27 vacation days" in doc.sources[0].passage


def test_missing_model_file_falls_back_to_keywords(index: DocumentIndex, tmp_path: Path) -> None:
    class Client:  # an EngineClient stand-in that must not be called
        def embed(self, texts: list[str], model_path: object = None) -> None:
            raise AssertionError("no embedding without a model")

    doc = prepare_document_messages(
        Client(), "vacation days", [], ["HR"], 2048, 256, "",
        embedding_model=tmp_path / "gone.gguf", index=index,
    )
    assert doc.note and "gone.gguf" in doc.note and doc.sources


def test_small_context_keeps_newest_turns_and_fits(
    index: DocumentIndex, embedder: LocalEmbedder
) -> None:
    history = []
    for i in range(40):
        history.append({"role": "user", "content": f"old question {i} " + "word " * 60})
        history.append({"role": "assistant", "content": f"old answer {i} " + "word " * 60})
    doc = prepare_document_messages(
        embedder, QUESTION, history, ["HR"], n_ctx=1024, answer_tokens=256, index=index
    )
    assert "27 vacation days" in doc.sources[0].passage
    kept = doc.messages[1:-1]
    assert 0 < len(kept) < len(history)
    assert kept[0]["role"] == "user" and kept[-1]["content"].startswith("old answer 39")
    total_chars = sum(len(m["content"]) for m in doc.messages)
    assert total_chars / 4 < 1024 - 256  # about 4 characters a token


def test_unknown_collection_and_no_match_are_explained(
    index: DocumentIndex, embedder: LocalEmbedder
) -> None:
    doc = prepare_document_messages(embedder, QUESTION, [], ["Gone"], 2048, 256, index=index)
    assert doc.sources == [] and doc.note and "Gone" in doc.note
    assert "no matching passages" in doc.messages[0]["content"]


def test_more_passages_brings_more_sources_and_says_when_the_context_is_full(
    tmp_path: Path,
) -> None:
    """"Use more passages": twice the passages when the context has room for them; when it has
    none, the same as before and a sentence that says why. (Keywords only: the retrieval is not
    what is tested here, the budget is.)"""
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(30):
        (docs / f"note{i:02d}.md").write_text(
            f"# Holiday rule {i}\n\nRule {i}: the holiday allowance grows by {i} days after "
            f"{i + 1} years; ask the office manager in room {100 + i}.\n"
        )
    with DocumentIndex(tmp_path / "many.db") as idx:
        idx.create_collection("Rules", [docs])
        index_collection(idx, "Rules", None)

        def ask(n_ctx: int, scale: int) -> tuple[int, str | None]:
            doc = prepare_document_messages(
                None, "holiday allowance rule", [], ["Rules"], n_ctx=n_ctx, answer_tokens=256,
                index=idx, passage_scale=scale,
            )
            return len(doc.sources), doc.note

        usual, _ = ask(8192, 1)
        more, _ = ask(8192, 2)
        assert usual == 10 and more == 20  # twice the passages, from twice the files
        small, _ = ask(640, 1)  # room for a few passages only
        same, note = ask(640, 2)
        assert same == small < 10
        assert note is not None and "No more passages fit" in note
