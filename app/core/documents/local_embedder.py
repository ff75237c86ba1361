"""An in-process embedder on llama-cpp-python, for the CLI, tests and benchmarks.

The GUI embeds through the engine host process instead (a crash in native code must not take the
window down); this class is the same thing without the process hop. It satisfies
`embedding.Embedder`.

    embedder = LocalEmbedder(paths.default_embedding_model())
    vectors = embedder.embed(["what is the refund policy?"])  # (1, 384) float32, unit length

Texts longer than the model's window are cut to it (tokenize, keep the first tokens,
detokenize): llama.cpp would otherwise fail the whole batch. Thread-safe (one lock; llama.cpp
contexts are not re-entrant) and blocking.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from app.core.documents.embedding import Vectors, as_unit_vectors

log = logging.getLogger("enclave.documents.embedder")

# all-MiniLM-L6-v2 was trained on 256-token inputs; its GGUF says 512 (BERT's position table),
# but quality drops past what it was trained on.
DEFAULT_WINDOW = 256


def model_id_for(path: Path) -> str:
    """Stable id for "vectors from this model file": name and size (hashing 25+ MB on every
    start would cost more than it buys)."""
    return f"{path.name}#{path.stat().st_size}"


class LocalEmbedder:
    def __init__(
        self,
        model_path: Path | str,
        *,
        window: int = DEFAULT_WINDOW,
        batch_size: int = 32,
        n_threads: int | None = None,
    ) -> None:
        from llama_cpp import Llama  # heavy import, only when an embedder is really built

        from app.core.engine.backends import load_backends

        # As quiet as Llama(verbose=False) below makes it, already while the backend loads.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        load_backends()  # the installers' portable build has no CPU backend until one is loaded

        self.path = Path(model_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"embedding model not found: {self.path}")
        self.model_id = model_id_for(self.path)
        self.batch_size = batch_size
        n_ctx = max(512, window)
        self._llm: Any = Llama(
            model_path=str(self.path),
            embedding=True,
            n_ctx=n_ctx,
            n_batch=n_ctx,
            n_ubatch=n_ctx,
            n_threads=n_threads or max(1, (os.cpu_count() or 2)),
            verbose=False,
        )
        try:
            trained = int(self._llm._model.n_ctx_train())
        except Exception:  # private API of llama-cpp-python: fall back to what we asked for
            trained = n_ctx
        self.window = min(window, trained, n_ctx)
        self.dim = int(self._llm.n_embd())
        self._lock = threading.Lock()
        log.info(
            "embedding model loaded: %s (%d-dim, window %d)", self.path.name, self.dim, self.window
        )

    def _truncate(self, text: str) -> str:
        text = text.strip() or "."  # llama.cpp rejects an empty input
        # Cheap pre-cut: even one char per token cannot exceed the window after this.
        text = text[: self.window * 12]
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        limit = self.window - 2  # [CLS] and [SEP] are added by llama.cpp
        if len(tokens) <= limit:
            return text
        cut: bytes = self._llm.detokenize(tokens[:limit])
        return cut.decode("utf-8", errors="ignore").strip() or "."

    def embed(self, texts: list[str], normalize: bool = True) -> Vectors:
        """(len(texts), dim) float32. Batches of `batch_size` texts per llama.cpp call."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[Vectors] = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                batch = [self._truncate(t) for t in texts[start : start + self.batch_size]]
                raw = self._llm.embed(batch, normalize=False, truncate=True)
                out.append(np.asarray(raw, dtype=np.float32).reshape(len(batch), self.dim))
        matrix = np.vstack(out)
        return as_unit_vectors(matrix) if normalize else matrix

    def close(self) -> None:
        with self._lock:
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.close()


def default_embedder() -> tuple[LocalEmbedder | None, str | None]:
    """The bundled model, or (None, why) when it or llama-cpp-python is missing: callers then
    fall back to keyword search and show the reason."""
    from app.core import paths

    path = paths.default_embedding_model()
    if not path.is_file():
        return None, f"the embedding model is missing ({path.name})"
    try:
        return LocalEmbedder(path), None
    except ImportError:
        return None, "llama-cpp-python is not installed"
    except Exception as exc:  # a broken model file, an unsupported architecture
        log.warning("cannot load the embedding model: %s", exc)
        return None, f"the embedding model could not be loaded ({type(exc).__name__})"
