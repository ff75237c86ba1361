"""Documents embedded by the company's server (/v1/embeddings) instead of the bundled model, and
the one place that decides which embedder the documents step uses.

    embedder = embedder_for_settings(settings, service.engine, local=service.local)

The server's vectors never mix with the local model's: `model_id` names the server and its
model ("server:ai-box:8000/bge-m3"), the index stores the model id per collection, and a
collection indexed with another model id is embedded again (beside its old vectors, which
search keeps using until the new ones are complete: index.begin_model_change). While that
lasts, a question to such a collection is embedded by the model that made its vectors: the
server's for a collection moving to this computer, the local file for one moving to the server
(`for_model` / `for_server_model`, which search.py asks for), so it is not keyword-only.

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


class _EmbedsLocally(Protocol):
    def embed(self, texts: list[str], model_path: Path | str | None = None, kind: str = ...) -> Any: ...


class RemoteEmbedder:
    """embedding.Embedder through a RemoteEngine. Blocking; call it off the GUI thread.

    `local`: the local engine (EngineService.local), for a collection whose vectors came from
    a file on this computer and is being re-embedded by the server (`for_model`)."""

    def __init__(
        self,
        engine: _ServerEngine,
        model: str | None = None,
        dim: int | None = None,
        local: _EmbedsLocally | None = None,
    ) -> None:
        self._engine = engine
        self._model = (model or getattr(engine, "embedding_model", "") or "").strip()
        self._dim = dim  # known from an earlier run (the collection stores it): no probe
        self._local = local

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

    def for_model(self, path: Path | str) -> Embedder | None:
        """A local model file through the local engine (None without one): the model that made
        a collection's vectors, while the server re-embeds it (search.py)."""
        if self._local is None:
            return None
        from app.core.documents.engine_embedder import EngineEmbedder

        return EngineEmbedder(self._local, path, server=self._engine)

    def for_server_model(self, model_id: str, dim: int | None = None) -> Embedder | None:
        return server_embedder_for(model_id, self._engine, dim, local=self._local)


def server_embedder_for(
    model_id: str, engine: _ServerEngine | None, dim: int | None = None, local: Any = None
) -> RemoteEmbedder | None:
    """An embedder for `model_id` ("server:HOST:PORT/MODEL") when `engine` is that server, else
    None (another server, or none connected now: that collection is searched by keywords)."""
    if engine is None:
        return None
    model = model_id.removeprefix(f"{SERVER_ID_PREFIX}{engine.where}/")
    if model == model_id or not model:
        return None
    return RemoteEmbedder(engine, model, dim, local=local)


def embedder_for_settings(
    settings: Settings, engine: Any, local: Any = None, dim: int | None = None
) -> Embedder:
    """The embedder the documents step should use now.

    `engine` is the engine answering now (EngineService.engine); `local` the local engine
    (EngineService.local), needed when `engine` is a server but documents embed on this
    computer. `dim`: the collection's stored dimension, when its model id is this embedder's
    (saves a probe). The server embeds only when Settings say so *and* a server answers."""
    remote = engine if getattr(engine, "is_remote", False) else None
    if settings.server_embeddings and remote is not None:
        return RemoteEmbedder(remote, dim=dim, local=local)
    from app.core import paths
    from app.core.documents.engine_embedder import EngineEmbedder

    embeds_locally = local if local is not None else engine
    if getattr(embeds_locally, "is_remote", False):
        raise ValueError("embedder_for_settings: pass the local engine to embed on this computer")
    path = Path(settings.embedding_model).expanduser() if settings.embedding_model else None
    return EngineEmbedder(embeds_locally, path or paths.default_embedding_model(), dim=dim, server=remote)
