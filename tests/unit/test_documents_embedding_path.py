"""The one embedding path: passages sized with the model's own tokenizer fit its window, a
longer text is cut keeping [CLS] ... [SEP], the engine host gives the same vectors and model id
as the in-process embedder, and vectors cross the pipe as float32 bytes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from app.core.documents.chunking import chunk_passages, model_token_counter
from app.core.documents.engine_embedder import EngineEmbedder
from app.core.documents.extract import Passage
from app.core.documents.local_embedder import (
    EMBED_WINDOW,
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
    assert model_token_counter() == fitter.count  # the bundled model's tokenizer, cached
    real = [len(fitter.fit(c.text)) for c in chunks]  # with [CLS] and [SEP]
    assert max(real) <= EMBED_WINDOW
    # Nothing cut by the embedder: the whole chunk is what gets embedded.
    assert all(n == c.n_tokens + 2 for n, c in zip(real, chunks, strict=True))


def test_a_long_text_is_cut_to_the_window_keeping_sep(embedding_model_path: Path) -> None:
    fitter = _vocab(str(embedding_model_path), embedding_model_path.stat().st_size)
    tokens = fitter.fit("word " * 1000)
    assert len(tokens) == EMBED_WINDOW and tokens[0] == 101 and tokens[-1] == 102
    assert fitter.fit("   ") == fitter.fit(".")  # empty input becomes a harmless one


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
