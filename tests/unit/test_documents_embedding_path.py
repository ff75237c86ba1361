"""The one embedding path: passages sized with the model's own tokenizer fit its window, a
longer text is read in windows each kept in [CLS] ... [SEP] (its tail counts), the engine host
gives the same vectors and model id as the in-process embedder, and vectors cross the pipe as
float32 bytes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from app.core.documents.chunking import chunk_passages, model_token_counter
from app.core.documents.engine_embedder import EngineEmbedder
from app.core.documents.extract import Passage
from app.core.documents.local_embedder import (
    EMBED_WINDOW,
    MAX_WINDOWS,
    EmbeddingRunner,
    LocalEmbedder,
    _vocab,
    model_id_for,
)
from app.core.engine import protocol as p
from app.core.engine.client import EngineClient

README = Path(__file__).resolve().parents[2] / "README.md"


def test_chunks_fit_the_window_counted_by_the_models_tokenizer(embedding_model_path: Path) -> None:
    fitter = _vocab(str(embedding_model_path), embedding_model_path.stat().st_size)
    paragraphs = [t for t in README.read_text().split("\n\n") if t.strip()]
    paragraphs.append("supercalifragilistic" * 400)  # one "word" longer than a chunk
    passages = [Passage(t, "/d/readme.md") for t in paragraphs]
    chunks = chunk_passages(passages)
    # The bundled model's tokenizer, cached (the same function every time; not necessarily the
    # same object as `fitter`'s: other tests' models may have pushed it out of _vocab's cache).
    counter = model_token_counter()
    assert counter is model_token_counter()
    assert [counter(p.text) for p in passages] == [fitter.count(p.text) for p in passages]
    real = [len(fitter.fit(c.text)) for c in chunks]  # with [CLS] and [SEP]
    assert max(real) <= EMBED_WINDOW
    # Nothing cut by the embedder: the whole chunk is what gets embedded.
    assert all(n == c.n_tokens + 2 for n, c in zip(real, chunks, strict=True))


def test_a_long_text_is_cut_to_the_window_keeping_sep(embedding_model_path: Path) -> None:
    fitter = _vocab(str(embedding_model_path), embedding_model_path.stat().st_size)
    tokens = fitter.fit("word " * 1000)
    assert len(tokens) == EMBED_WINDOW and tokens[0] == 101 and tokens[-1] == 102
    assert fitter.fit("   ") == fitter.fit(".")  # empty input becomes a harmless one


def test_a_text_longer_than_the_window_is_read_in_windows(embedding_model_path: Path) -> None:
    fitter = _vocab(str(embedding_model_path), embedding_model_path.stat().st_size)
    windows = fitter.windows("word " * 1000)
    assert [len(w) for w in windows] == [EMBED_WINDOW] * 3 + [1000 - 3 * (EMBED_WINDOW - 2) + 2]
    assert all(w[0] == 101 and w[-1] == 102 for w in windows)  # each in [CLS] ... [SEP]
    assert sum(len(w) - 2 for w in windows) == 1000  # every token once, nothing dropped
    assert len(fitter.windows("word " * 100_000)) == MAX_WINDOWS  # bounded work


def test_the_tail_of_a_long_passage_is_found(embedding_model_path: Path) -> None:
    """A passage longer than the window (cut for a model that counts it shorter, or indexed
    before the chunker knew this model): a fact at its end still makes its vector."""
    filler = " ".join(f"The annual report lists revenue for region {i} in the appendix." for i in range(30))
    tail = (
        " The staff garage opens at 6am and closes at midnight. Parking in the garage needs a badge."
        " The garage has 40 places for bicycles."
    )
    runner = EmbeddingRunner(embedding_model_path)
    try:
        windows = runner.fitter.windows(filler + tail)
        assert len(windows) > 1
        whole, question = runner.embed([filler + tail, "When does the garage open?"])
        cut = runner.embed_tokens([windows[0]])[0]  # what cutting to the window gave before
        assert float(question @ whole) > float(question @ cut) + 0.05
        # The mean is weighted by tokens: the vector of the whole, not of the last window alone.
        last = runner.embed_tokens([windows[-1]])[0]
        assert float(whole @ cut) > 0.5 and float(whole @ last) < 0.999
    finally:
        runner.close()


def test_embeddings_cross_the_pipe_as_float32_bytes() -> None:
    matrix = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    reply = p.Embeddings.of(matrix)
    assert isinstance(reply.data, bytes) and len(reply.data) == 12 * 4
    back = pickle.loads(pickle.dumps(reply))
    np.testing.assert_array_equal(back.array(), matrix)
    assert back.vectors == matrix.tolist()
    assert p.Embeddings.of(np.zeros((0, 4))).vectors == []


def test_host_and_in_process_vectors_and_model_id_match(embedding_model_path: Path) -> None:
    texts = ["The garage opens at 6am.", "word " * 600, "Employees get 27 vacation days."]
    local = LocalEmbedder(embedding_model_path)
    client = EngineClient()
    try:
        engine = EngineEmbedder(client, embedding_model_path)
        assert engine.model_id == local.model_id == model_id_for(embedding_model_path)
        assert f"#w{EMBED_WINDOW}" in local.model_id  # the window changes vectors, so the id
        cos = (engine.embed(texts) * local.embed(texts)).sum(axis=1)
        assert cos.min() > 0.9999
    finally:
        client.shutdown()
        local.close()
