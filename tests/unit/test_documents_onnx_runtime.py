"""The bundled model runs on onnxruntime (its int8 ONNX twin) and gives the vectors llama.cpp
gives for the same GGUF, from the same tokens; the model id tells the two runtimes apart so a
collection never mixes their vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.documents.local_embedder import EMBED_WINDOW, EmbeddingRunner, model_id_for
from app.core.documents.onnx_runtime import RUNTIME_ENV, onnx_twin

TEXTS = [
    "Hot standby lets a replica answer read-only queries while it replays the primary's WAL.",
    "VACUUM reclaims storage occupied by dead tuples.",
    "The canteen opens at noon.",
    "word " * 600,  # cut to the window, [SEP] kept
]


def test_onnx_twin_gives_llama_cpp_vectors(embedding_model_path: Path) -> None:
    assert onnx_twin(embedding_model_path) is not None
    onnx = EmbeddingRunner(embedding_model_path)
    llama = EmbeddingRunner(embedding_model_path, runtime="llama", n_threads=1)
    try:
        assert (onnx.runtime, llama.runtime) == ("onnx", "llama")
        assert onnx.fit(TEXTS) == llama.fit(TEXTS)  # one tokenizer, one fitting
        assert len(onnx.fit(TEXTS)[-1]) == EMBED_WINDOW
        a, b = onnx.embed(TEXTS), llama.embed(TEXTS)
        assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
        cosines = (a * b).sum(axis=1)
        assert cosines.min() > 0.995, cosines
        # Not just similar on average: each text's nearest neighbour is the same text.
        assert list((a @ b.T).argmax(axis=1)) == list(range(len(TEXTS)))
    finally:
        onnx.close()
        llama.close()


def test_model_id_names_the_runtime(
    embedding_model_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    onnx_id = model_id_for(embedding_model_path)
    assert onnx_id.endswith("#onnx-int8")
    monkeypatch.setenv(RUNTIME_ENV, "llama")
    assert onnx_twin(embedding_model_path) is None
    assert model_id_for(embedding_model_path) == onnx_id.removesuffix("#onnx-int8")
    monkeypatch.delenv(RUNTIME_ENV)
    # A file that only shares the bundled model's name is not its twin.
    other = tmp_path / embedding_model_path.name
    other.write_bytes(b"GGUF" + bytes(100))
    assert onnx_twin(other) is None
