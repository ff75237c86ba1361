"""The one embedding path: tokenizer-aware fitting, batched llama.cpp calls, the model id.

Both ways of embedding use `EmbeddingRunner`: the CLI, tests and benchmarks in-process
(`LocalEmbedder`), the window through the engine host process (host.py `embed`: a crash in
native code must not take the window down). So a text gets the same tokens, the same
truncation and the same vector either way, and `model_id_for` can be one id for both.

    embedder = LocalEmbedder(paths.default_embedding_model())
    vectors = embedder.embed(["what is the refund policy?"])  # (1, 384) float32, unit length

Sizes: the chunker (chunking.py) counts passages with the same model's tokenizer
(`count_tokens_for`, a cached vocab-only load: tens of milliseconds, no weights) so a passage
fits `EMBED_WINDOW` and no tail is lost. A longer text still (a passage cut for another model
whose tokenizer counts it shorter, a collection indexed before the chunker knew this model, a
search question pasted from a book) is read in consecutive windows, each with [CLS] ... [SEP]
as the model was trained, and its vector is their mean weighted by tokens: its tail counts
instead of being cut off. At most MAX_WINDOWS, so a pathological text costs a bounded time.
The model's prompt (if any) is in front of the first window only.

Prompts: a model trained with task prefixes (EmbeddingGemma: "task: search result | query: ..."
for a question, "title: none | text: ..." for a passage; embedding_models.py) gets them here,
in `EmbeddingRunner.embed(texts, kind=...)`, so the CLI, the engine host and search all add the
same ones; callers only say whether texts are questions (`embed_query`) or passages (`embed`).
The bundled MiniLM has none.

Speed: all sequences of a request go to llama.cpp in as few `decode` calls as fit in
`EMBED_BATCH_TOKENS` (measured in tests/benchmarks/bench_embedding.py), token ids straight in
(no detokenize/retokenize), vectors straight out as float32 numpy (no Python float lists).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.core.documents.embedding import Vectors, as_unit_vectors
from app.core.documents.embedding_models import DOCUMENT, QUERY, prompts_for, window_for

log = logging.getLogger("enclave.documents.embedder")

# all-MiniLM-L6-v2 was trained on 256-token inputs (special tokens included); its GGUF says 512
# (BERT's position table), but quality drops past what it was trained on.
EMBED_WINDOW = 256
DEFAULT_WINDOW = EMBED_WINDOW  # the old name
# Tokens per llama.cpp decode (n_ctx = n_batch = n_ubatch; a non-causal model needs every
# sequence whole inside one ubatch). Short texts share a decode; a passage near the window gets
# one to itself. Bigger contexts are slower, not faster: every decode's attention spans the
# whole context, so on a 2-core CPU (bench_embedding.py, same run) 256 gave ~820 tokens per
# CPU-second, 512 ~390 (the old CLI), 1024 ~380, 2048 ~260 (the old engine host).
EMBED_BATCH_TOKENS = EMBED_WINDOW

# Bump when fitting changes the tokens a text is embedded from (vectors would differ). Not bumped
# for reading past the window (MAX_WINDOWS): a bump re-embeds every collection, and only texts
# longer than the window change (their vector now covers the tail); the chunker's never are.
_FIT_VERSION = 1
# The most windows one text is read in (8 x 256 tokens for MiniLM, ~6 pages of prose).
MAX_WINDOWS = 8


def model_id_for(path: Path, window: int | None = None) -> str:
    """Stable id for "vectors from this model file, fitted this way": name, size and window
    (None: the model's own, embedding_models.window_for), and "#p1" for a model whose texts get
    prompts (the bundled MiniLM has none, so its id is what it always was).
    It changes if and only if vectors would: batch sizes, threads, in-process or engine host
    do not enter it. (Hashing 25+ MB on every start would cost more than it buys.) The
    runtime does: the bundled model's ONNX twin (onnx_runtime.py) gives vectors within 0.001
    of llama.cpp's, close but not the same, so its id says "onnx-int8"."""
    from app.core.documents.onnx_runtime import onnx_twin

    runtime = "#onnx-int8" if onnx_twin(path) is not None else ""
    window = window_for(path, EMBED_WINDOW) if window is None else window
    prompted = "" if prompts_for(path).empty else "#p1"
    return f"{path.name}#{path.stat().st_size}#w{window}v{_FIT_VERSION}{runtime}{prompted}"


def _quiet_llama() -> None:
    from app.core.engine.backends import require_cpu_backend

    # As quiet as Llama(verbose=False) makes it, already while the backend loads.
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    require_cpu_backend()  # else llama.cpp would crash: a plain error instead


class _Fitter:
    """Text -> token ids that fit the window, with the model's own special tokens."""

    def __init__(self, llm: Any, window: int) -> None:
        self._llm = llm
        self.window = window
        # What the model adds around every text ([CLS] ... [SEP] for BERT): learned, not assumed.
        around = llm.tokenize(b"", add_bos=True, special=False)
        inner_len = len(llm.tokenize(b"", add_bos=False, special=False))
        extra = list(around[: len(around) - inner_len]) if inner_len else list(around)
        bos = llm.token_bos()
        self.head = 1 if extra and extra[0] == bos else 0
        self.tail = len(extra) - self.head
        self.specials = len(extra)

    def count(self, text: str) -> int:
        """Tokens of `text` without the special ones (what the chunker adds up)."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def fit(self, text: str) -> list[int]:
        """The tokens of the text's first window (all of it when it fits)."""
        return self.windows(text, 1)[0]

    def windows(self, text: str, most: int = MAX_WINDOWS) -> list[list[int]]:
        """The text as consecutive windows of at most `window` tokens, each with the model's
        special tokens around it; one when it fits, at most `most`."""
        text = text.strip() or "."  # llama.cpp rejects an empty input
        # Cheap pre-cut: even one char per token cannot exceed the windows after this.
        raw = text[: self.window * 12 * most].encode("utf-8")
        tokens = list(self._llm.tokenize(raw, add_bos=True, special=False))
        if len(tokens) <= self.window:
            return [tokens]
        head, tail = tokens[: self.head], (tokens[-self.tail :] if self.tail else [])
        inner = tokens[self.head : len(tokens) - self.tail]
        step = self.window - self.specials
        return [head + inner[i : i + step] + tail for i in range(0, len(inner), step)][:most]


@functools.lru_cache(maxsize=4)
def _vocab(path: str, size: int) -> _Fitter:
    """A vocabulary-only load of the model (no weights): enough to count and cut tokens. The
    app's one vocabulary loader (engine/token_counter.py), shared with the chat's counter."""
    from app.core.engine.token_counter import vocab_model

    _quiet_llama()
    return _Fitter(vocab_model(path), EMBED_WINDOW)


def count_tokens_for(path: Path) -> tuple[Callable[[str], int], int]:
    """(count, budget) for chunking: `count(text)` is the model's own token count without
    special tokens, `budget` the most a passage may have so that it fits the window with
    them. Raises when llama-cpp-python or the model is missing (callers fall back)."""
    fitter = _vocab(str(path), path.stat().st_size)
    return fitter.count, EMBED_WINDOW - fitter.specials


class EmbeddingRunner:
    """The model's tokenizer and fitting, and the batched embedding loop: onnxruntime for the
    bundled model when its ONNX twin is installed (onnx_runtime.py; ~10x faster on a CPU),
    else a llama.cpp embedding context. `runtime="llama"` forces llama.cpp (benchmarks that
    time llama.cpp itself). Not thread-safe by itself (LocalEmbedder adds a lock; the engine
    host serves one request at a time)."""

    def __init__(
        self,
        model_path: Path | str,
        *,
        window: int | None = None,
        batch_tokens: int = EMBED_BATCH_TOKENS,
        n_threads: int | None = None,
        verbose: bool = False,
        runtime: str | None = None,
    ) -> None:
        from llama_cpp import Llama

        from app.core.documents.onnx_runtime import OnnxEncoder, onnx_twin

        _quiet_llama()
        self.path = Path(model_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"embedding model not found: {self.path}")
        window = window_for(self.path, EMBED_WINDOW) if window is None else window
        self.tokens_embedded = 0  # running total, for benchmarks
        threads = n_threads or max(1, (os.cpu_count() or 2))
        twin = None if runtime == "llama" else onnx_twin(self.path)
        self.onnx: OnnxEncoder | None = None
        if twin is not None:
            self.onnx = OnnxEncoder(twin, threads)
            # The GGUF's vocabulary only (no weights): the same tokens as on llama.cpp.
            self.llm: Any = Llama(model_path=str(self.path), vocab_only=True, verbose=verbose)
            self.prompts = prompts_for(self.path, self._arch())
            self.runtime = "onnx"
            self.batch_tokens = window
            self.fitter = _Fitter(self.llm, window)
            self.window = self.fitter.window
            self.dim = self.onnx.dim
            self._max_seqs = 1
            return
        self.runtime = "llama"
        n_ctx = max(batch_tokens, window)
        self.llm = Llama(
            model_path=str(self.path),
            embedding=True,
            n_ctx=n_ctx,
            n_batch=n_ctx,
            n_ubatch=n_ctx,
            n_threads=threads,
            verbose=verbose,
        )
        self.prompts = prompts_for(self.path, self._arch())
        try:
            trained = int(self.llm._model.n_ctx_train())
        except Exception:  # private API of llama-cpp-python: fall back to what we asked for
            trained = n_ctx
        self.batch_tokens = n_ctx
        self.fitter = _Fitter(self.llm, min(window, trained))
        self.window = self.fitter.window
        self.dim = int(self.llm.n_embd())
        try:
            self._max_seqs = max(1, int(self.llm.context_params.n_seq_max))
        except Exception:
            self._max_seqs = 1

    def _arch(self) -> str | None:
        metadata = getattr(self.llm, "metadata", None) or {}
        arch = metadata.get("general.architecture")
        return str(arch) if arch else None

    def fit(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.fitter.fit(t) for t in texts]

    def embed(self, texts: Sequence[str], normalize: bool = True, kind: str = DOCUMENT) -> Vectors:
        """(len(texts), dim) float32, in order. `kind`: "document" (passages) or "query"
        (questions): which of the model's prompts goes in front (none for MiniLM). A text
        longer than the window: the token-weighted mean of its windows' vectors."""
        pieces = [self.fitter.windows(t) for t in self.prompts.apply(list(texts), kind)]
        if all(len(p) == 1 for p in pieces):
            return self.embed_tokens([p[0] for p in pieces], normalize)
        vectors = self.embed_tokens([w for p in pieces for w in p], normalize)
        out = np.empty((len(pieces), vectors.shape[1]), dtype=np.float32)
        row = 0
        for i, windows in enumerate(pieces):
            weights = np.array([len(w) for w in windows], dtype=np.float32)
            out[i] = weights @ vectors[row : row + len(windows)] / weights.sum()
            row += len(windows)
        return as_unit_vectors(out) if normalize else out

    def embed_tokens(self, seqs: list[list[int]], normalize: bool = True) -> Vectors:
        if self.onnx is not None:
            vectors = self.onnx.encode(seqs)
            self.tokens_embedded += sum(map(len, seqs))
            return as_unit_vectors(vectors) if normalize else vectors
        import llama_cpp

        llm = self.llm
        out = np.empty((len(seqs), self.dim), dtype=np.float32)
        if not seqs:
            return out
        pooled = llm.pooling_type() != llama_cpp.LLAMA_POOLING_TYPE_NONE
        batch, ctx = llm._batch, llm._ctx
        row = 0  # first output row of the batch being filled
        sizes: list[int] = []

        def decode() -> None:
            nonlocal row
            ctx.kv_cache_clear()
            ctx.decode(batch)
            batch.reset()
            pos = 0
            for i, size in enumerate(sizes):
                if pooled:
                    ptr = llama_cpp.llama_get_embeddings_seq(ctx.ctx, i)
                    out[row + i] = np.ctypeslib.as_array(ptr, shape=(self.dim,))
                else:  # a model without pooling: mean of its token vectors
                    ptr = llama_cpp.llama_get_embeddings(ctx.ctx)
                    flat = np.ctypeslib.as_array(ptr, shape=((pos + size) * self.dim,))
                    out[row + i] = flat[pos * self.dim :].reshape(size, self.dim).mean(axis=0)
                pos += size
            row += len(sizes)
            sizes.clear()

        batch.reset()
        used = 0
        for tokens in seqs:
            n = len(tokens)
            if sizes and (used + n > self.batch_tokens or len(sizes) >= self._max_seqs):
                decode()
                used = 0
            batch.add_sequence(tokens, len(sizes), True)
            sizes.append(n)
            used += n
            self.tokens_embedded += n
        decode()
        ctx.kv_cache_clear()
        return as_unit_vectors(out) if normalize else out

    def close(self) -> None:
        self.llm.close()


class LocalEmbedder:
    """`embedding.Embedder` in this process. Thread-safe (one lock; llama.cpp contexts are not
    re-entrant) and blocking. Same vectors and `model_id` as the engine host's."""

    def __init__(
        self,
        model_path: Path | str,
        *,
        window: int | None = None,
        batch_size: int = 256,
        batch_tokens: int = EMBED_BATCH_TOKENS,
        n_threads: int | None = None,
    ) -> None:
        self.path = Path(model_path)
        self._runner: EmbeddingRunner | None = EmbeddingRunner(
            self.path, window=window, batch_tokens=batch_tokens, n_threads=n_threads
        )
        self.model_id = model_id_for(self.path, window)
        self.batch_size = batch_size  # texts fitted per step (bounds the memory of one call)
        self.window = self._runner.window
        self.dim = self._runner.dim
        self._lock = threading.Lock()
        log.info(
            "embedding model loaded: %s (%d-dim, window %d)", self.path.name, self.dim, self.window
        )

    @property
    def tokens_embedded(self) -> int:
        return self._runner.tokens_embedded if self._runner is not None else 0

    def embed(self, texts: list[str], normalize: bool = True, kind: str = DOCUMENT) -> Vectors:
        """(len(texts), dim) float32; passages unless `kind` says "query"."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[Vectors] = []
        with self._lock:
            if self._runner is None:
                raise RuntimeError("the embedding model was closed")
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                out.append(self._runner.embed(batch, normalize, kind))
        return out[0] if len(out) == 1 else np.vstack(out)

    def embed_query(self, texts: list[str]) -> Vectors:
        """Search questions: with the model's query prompt (embedding.embed_queries)."""
        return self.embed(texts, kind=QUERY)

    def for_model(self, path: Path | str) -> LocalEmbedder:
        """Another model the same way: the model that made a collection's vectors, for a
        search while that collection is re-embedded for a new one (search.py)."""
        return LocalEmbedder(path, batch_size=self.batch_size)

    def close(self) -> None:
        with self._lock:
            runner, self._runner = self._runner, None
            if runner is not None:
                runner.close()


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
