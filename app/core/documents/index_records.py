"""The values the documents index (index.py) hands out: collections, files, stored chunks and
the marks a vector cache keeps to refresh itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.documents.embedding import Vectors


@dataclass(frozen=True, slots=True)
class Collection:
    id: int
    name: str
    roots: list[str]
    embed_model_id: str | None
    embed_dim: int | None
    state: str  # "new" | "indexing" (running or interrupted) | "ready"
    generation: int
    n_files: int
    n_chunks: int
    n_errors: int
    updated_at: float
    embed_model_path: str | None = None  # the file that made the vectors, when known
    next_model_id: str | None = None  # the model being re-embedded for (begin_model_change)


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    status: str  # "indexed" | "error" | "skipped"
    error: str | None
    n_chunks: int
    n_pages: int | None


@dataclass(frozen=True, slots=True)
class VectorMark:
    """Where a cached vector matrix stands: which database (a new file at the same path has
    another instance), which model and dimension, and the vector clock it has seen."""

    instance: str
    model_id: str | None
    dim: int
    seq: int


@dataclass(frozen=True, slots=True)
class VectorChanges:
    """See DocumentIndex.vector_changes. `full`: drop what is held; `ids`/`matrix` are all there
    is. Else keep the held rows where `keep` is True (a mask over the held ids) and add these."""

    mark: VectorMark
    full: bool
    keep: np.ndarray
    ids: np.ndarray
    matrix: Vectors


@dataclass(frozen=True, slots=True)
class StoredChunk:
    id: int
    collection: str
    file: str
    ordinal: int
    text: str
    page: int | None
    page_end: int | None
    heading: str | None


def vector_blob(vector: np.ndarray) -> bytes:
    """A vector as the index stores it: float32, little-endian."""
    return np.asarray(vector, dtype="<f4").tobytes()
