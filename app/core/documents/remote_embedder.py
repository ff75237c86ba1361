"""Documents embedded by the company's server (/v1/embeddings) instead of the bundled model, and
the one place that decides which embedder the documents step uses.

    embedder = embedder_for_settings(settings, service.engine, local=service.local)

The server's vectors never mix with the local model's: `model_id` names the server and its
model ("server:ai-box:8000/bge-m3"), the index stores the model id per collection, and a
collection indexed with another model id is embedded again (beside its old vectors, which
search keeps using until the new ones are complete: index.begin_model_change).

Which server model embeds: the one given, else the engine's `embedding_model`, else the first
model the server lists whose name says it embeds ("bge", "e5", "...embed..."), else the chat
model. That needs the server, so it is found on first use (a worker thread), not when built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app.core.documents.embedding import Embedder, Vectors, as_unit_vectors

if TYPE_CHECKING:
    from app.core.settings import Settings

SERVER_ID_PREFIX = "server:"
_EMBEDDING_NAMES = re.compile(
    r"embed|bge|(^|[-_/])e5([-_]|$)|gte|minilm|mpnet|nomic|mxbai|jina|arctic|sentence", re.IGNORECASE
)


class _ServerEngine(Protocol):
    @property
    def where(self) -> str: ...

    @property
    def model_name(self) -> str: ...

    def list_models(self) -> list[str]: ...

    def embed(
        self, texts: list[str], model_path: Path | str | None = None, *, model: str | None = None
    ) -> list[list[float]]: ...


def embedding_model_among(models: list[str]) -> str:
    """The first model whose name says it is an embedding model ("" if none does)."""
    return next((m for m in models if _EMBEDDING_NAMES.search(m)), "")


class RemoteEmbedder:
    """embedding.Embedder through a RemoteEngine. Blocking; call it off the GUI thread."""

    def __init__(self, engine: _ServerEngine, model: str | None = None, dim: int | None = None) -> None:
        self._engine = engine
        self._model = (model or getattr(engine, "embedding_model", "") or "").strip()
        self._dim = dim  # known from an earlier run (the collection stores it): no probe

    @property
    def model(self) -> str:
        if not self._model:
            self._model = embedding_model_among(self._engine.list_models()) or self._engine.model_name
        return self._model

    @property
    def model_id(self) -> str:
        return f"{SERVER_ID_PREFIX}{self._engine.where}/{self.model}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def embed(self, texts: list[str]) -> Vectors:
        vectors = as_unit_vectors(self._engine.embed(list(texts), model=self.model))
        self._dim = int(vectors.shape[1])
        return vectors


def embedder_for_settings(
    settings: Settings, engine: Any, local: Any = None, dim: int | None = None
) -> Embedder:
    """The embedder the documents step should use now.

    `engine` is the engine answering now (EngineService.engine); `local` the local engine
    (EngineService.local), needed when `engine` is a server but documents embed on this
    computer. `dim`: the collection's stored dimension, when its model id is this embedder's
    (saves a probe). The server embeds only when Settings say so *and* a server answers."""
    if settings.server_embeddings and getattr(engine, "is_remote", False):
        return RemoteEmbedder(engine, dim=dim)
    from app.core import paths
    from app.core.documents.engine_embedder import EngineEmbedder

    embeds_locally = local if local is not None else engine
    if getattr(embeds_locally, "is_remote", False):
        raise ValueError("embedder_for_settings: pass the local engine to embed on this computer")
    path = Path(settings.embedding_model).expanduser() if settings.embedding_model else None
    return EngineEmbedder(embeds_locally, path or paths.default_embedding_model(), dim=dim)
