"""An `Embedder` backed by the engine host process (the app's way to embed: a native crash in
llama.cpp kills the host, not the window).

    embedder = EngineEmbedder(client)                      # bundled model
    embedder = EngineEmbedder(client, Path("other.gguf"))  # the user's pick

The host fits texts to the model's window with the same code as the in-process LocalEmbedder
(local_embedder.EmbeddingRunner), so `model_id` is the same for both and their vectors match.
`dim` is learned from one probe embedding the first time it is asked for, so building this
object costs nothing. Questions go with kind="query" (`embed_query`): the host's runner puts the
model's query prompt in front (embedding_models.py); passages get its document prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from app.core.documents.embedding import Embedder, Vectors, as_unit_vectors
from app.core.documents.embedding_models import QUERY
from app.core.documents.local_embedder import model_id_for


class _EmbedsTexts(Protocol):
    def embed(self, texts: list[str], model_path: Path | str | None = None, kind: str = ...) -> Any: ...


class EngineEmbedder:
    def __init__(
        self,
        client: _EmbedsTexts,
        model_path: Path | str | None = None,
        dim: int | None = None,
        server: Any = None,
    ) -> None:
        """`server`: the company's server when one answers (a RemoteEngine), for a collection
        whose vectors it made and that this computer is re-embedding (`for_server_model`)."""
        if model_path is None:
            from app.core import paths

            model_path = paths.default_embedding_model()
        self.path = Path(model_path)
        self.model_id = model_id_for(self.path)
        self._client = client
        # Known from an earlier run (the collection stores it): no probe, so a re-scan that
        # finds nothing changed never wakes the engine.
        self._dim: int | None = dim
        self._server = server

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(
                as_unit_vectors(self._client.embed(["dimension probe"], self.path)).shape[1]
            )
        return self._dim

    def embed(self, texts: list[str]) -> Vectors:
        vectors = as_unit_vectors(self._client.embed(list(texts), self.path))
        self._dim = int(vectors.shape[1])
        return vectors

    def embed_query(self, texts: list[str]) -> Vectors:
        """Search questions, with the model's query prompt (embedding.embed_queries)."""
        vectors = as_unit_vectors(self._client.embed(list(texts), self.path, kind=QUERY))
        self._dim = int(vectors.shape[1])
        return vectors

    def for_model(self, path: Path | str) -> EngineEmbedder:
        """Another model through the same engine: the one a collection's vectors came from,
        for a search while that collection is re-embedded for a new one (search.py)."""
        return EngineEmbedder(self._client, path, server=self._server)

    def for_server_model(self, model_id: str, dim: int | None = None) -> Embedder | None:
        """The server's model that made a collection's vectors, while this computer re-embeds
        it; None when that server is not the one connected now."""
        from app.core.documents.remote_embedder import server_embedder_for

        return server_embedder_for(model_id, self._server, dim, local=self._client)
