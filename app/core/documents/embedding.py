"""The embedder interface, and the batching/normalising every caller needs around it.

`Embedder` is a Protocol so the app can pass one backed by the engine host process
(`EngineClient.embed`), while tests and the CLI use the in-process `LocalEmbedder`
(local_embedder.py). Anything with `model_id`, `dim` and `embed(texts)` works.

`model_id` is stored per collection: vectors from two different models are not comparable, so a
collection indexed with model A is re-embedded when the user picks model B (beside A's vectors,
which search keeps using until B's are complete: indexer.py).

Questions and passages: `embed` is for passages. An embedder whose model wants a different
prompt for a question has `embed_query(texts)` too; `embed_queries` picks it when there is one.
An embedder that can make one for another model file has `for_model(path)` (search.py uses it
for a collection still searched with the model it was indexed with).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    # Read-only properties so both plain attributes and computed ones satisfy the protocol.
    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> Any:
        """One vector per text: list[list[float]] or a 2-D numpy array. May block."""
        ...


def embed_queries(embedder: Embedder, texts: list[str]) -> Vectors:
    """Search questions as unit vectors: `embed_query` where the embedder has one (a model
    with a query prompt), else `embed`."""
    query = getattr(embedder, "embed_query", None)
    raw = query(texts) if callable(query) else embedder.embed(texts)
    return as_unit_vectors(raw, embedder.dim)


def as_unit_vectors(raw: Any, dim: int | None = None) -> Vectors:
    """float32 matrix with L2-normalised rows, so cosine similarity is a dot product."""
    matrix = np.asarray(raw, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if dim is not None and matrix.shape[1] != dim:
        raise ValueError(f"embedder returned {matrix.shape[1]}-dim vectors, expected {dim}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


def embed_batched(
    embedder: Embedder,
    texts: Sequence[str],
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lengths: Sequence[int] | None = None,
) -> Vectors:
    """Embed in batches (so progress and cancel are checked between them). `on_batch(n)` gets
    the count of texts done so far. Returns an (n, dim) unit-vector matrix, rows in the order
    of `texts`; stopped early, the rows done so far (a prefix of `texts`).

    `lengths` (each text's token count, as the chunker counted it): the texts go to the
    embedder shortest first, so each batch holds texts of about one length. Why: a batch is
    padded to its longest text, and on the PostgreSQL manual's passages (64 to 256 tokens)
    batches of 8 in document order were ~40% padding; over a sorted flush of 128, < 1%
    (bench_embedding.py). Stopped early with `lengths`, nothing comes back (the rows done are
    not a prefix)."""
    order = sorted(range(len(texts)), key=lengths.__getitem__) if lengths is not None else None
    todo = [texts[i] for i in order] if order is not None else texts
    parts: list[Vectors] = []
    done = 0
    for start in range(0, len(todo), batch_size):
        if should_stop is not None and should_stop():
            break
        batch = list(todo[start : start + batch_size])
        parts.append(as_unit_vectors(embedder.embed(batch), embedder.dim))
        done += len(batch)
        if on_batch is not None:
            on_batch(done)
    if not parts or (order is not None and done < len(todo)):
        return np.zeros((0, embedder.dim), dtype=np.float32)
    stacked = np.vstack(parts)
    if order is None:
        return stacked
    out = np.empty_like(stacked)
    out[order] = stacked  # back to the order of `texts`
    return out
