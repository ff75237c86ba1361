"""A chat turn over the user's documents: retrieve, pack numbered sources into the context
budget, and build messages that make the model cite them as [n].

    doc = prepare_document_messages(embedder, question, history, ["Company docs"],
                                    n_ctx=4096, answer_tokens=512, system_prompt="")
    engine.chat(doc.messages, ...)         # then show doc.sources under the answer
    if doc.note: show(doc.note)            # e.g. "keyword search only: no embedding model"

Blocking (SQLite reads, one embedding of the question in the engine host): the chat session
calls it inside its engine-queue job, right before the chat request (through
app/core/chat/documents_step.py).

Budget: sources come first (they are what the user asked for), but earlier turns keep at least
HISTORY_SHARE of the room when they need it; the oldest turns are dropped first, and the first
kept turn is always the user's (some chat templates insist).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.documents import prompting
from app.core.documents.chunking import estimate_tokens
from app.core.documents.index import DocumentIndex
from app.core.i18n import number, translate

if TYPE_CHECKING:
    from app.core.documents.search import Hit

log = logging.getLogger("enclave.documents.chat")

CANDIDATES = 12  # chunks retrieved before packing
MAX_SOURCES = 10  # numbered sources in one prompt, at the usual passage budget
HISTORY_SHARE = 0.35  # earlier turns may keep this share of the room, if they need it
MESSAGE_OVERHEAD = 8  # turn markers and role names, per message


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One numbered source, as the answer cites it and the GUI shows it."""

    number: int
    label: str  # "report.pdf p. 3"
    file: str  # absolute path
    page: int | None
    passage: str  # the text the model saw

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, to keep with the answer (e.g. in the message's stats)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SourceRef:
        page = raw.get("page")
        return cls(
            number=int(raw["number"]),
            label=str(raw.get("label", "")),
            file=str(raw.get("file", "")),
            page=int(page) if page is not None else None,
            passage=str(raw.get("passage", "")),
        )


@dataclass(frozen=True, slots=True)
class DocumentPrompt:
    messages: list[dict[str, str]]
    sources: list[SourceRef]
    note: str | None  # plain words for the user when retrieval fell back or found nothing


def _embedder_for(
    engine_client_or_embedder: Any, embedding_model: Path | str | None
) -> tuple[Any, str | None]:
    """(an Embedder or None, why none) from an Embedder, an EngineClient or None."""
    target = engine_client_or_embedder
    if target is None:
        return None, "none configured"
    if hasattr(target, "model_id") and hasattr(target, "dim"):
        return target, None
    from app.core import paths
    from app.core.documents.engine_embedder import EngineEmbedder

    path = Path(embedding_model) if embedding_model else paths.default_embedding_model()
    if not path.is_file():
        return None, f"the embedding model is missing ({path.name})"
    return EngineEmbedder(target, path), None


def _cost(message: Mapping[str, str]) -> int:
    return estimate_tokens(message.get("content", "")) + MESSAGE_OVERHEAD


def _fit_history(history: Sequence[dict[str, str]], budget: int) -> list[dict[str, str]]:
    kept: list[dict[str, str]] = []
    used = 0
    for message in reversed(history):
        if not message.get("content", "").strip() or message.get("role") == "system":
            continue
        cost = _cost(message)
        if used + cost > budget:
            break
        kept.append({"role": message["role"], "content": message["content"]})
        used += cost
    kept.reverse()
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return kept


def prepare_document_messages(
    engine_client_or_embedder: Any,
    question: str,
    history_messages: list[dict[str, str]],
    collections: list[str],
    n_ctx: int,
    answer_tokens: int,
    system_prompt: str = "",
    *,
    embedding_model: Path | str | None = None,
    index: DocumentIndex | None = None,
    passage_scale: int = 1,
) -> DocumentPrompt:
    """Messages for one question over `collections` (see the module docstring).

    `engine_client_or_embedder`: the app's EngineClient (the question is embedded in the engine
    host with `embedding_model`, default the bundled one), any `Embedder`, or None for keyword
    search only. `history_messages`: earlier turns as role/content dicts, WITHOUT the question.
    `index`: an open DocumentIndex (default: the app's, opened and closed here).
    `passage_scale`: times the usual passages ("Use more passages"): more are retrieved and
    may be sent, and earlier turns give up room to them first.
    """
    from app.core.documents.search import Searcher

    notes: list[str] = []
    scale = max(1, passage_scale)
    embedder, why = _embedder_for(engine_client_or_embedder, embedding_model)
    instructions = prompting.SYSTEM_PROMPT
    if system_prompt.strip():
        instructions = f"{system_prompt.strip()}\n\n{instructions}"

    own_index = index is None
    idx = index if index is not None else DocumentIndex()
    try:
        names = [n for n in collections if idx.find_collection(n) is not None]
        missing = [n for n in collections if n not in names]
        if missing:
            notes.append("Not found (deleted?): " + ", ".join(missing) + ".")
        hits: list[Hit] = []
        if names and question.strip():
            try:
                result = Searcher(idx, embedder, why).search(names, question, k=CANDIDATES * scale)
            except Exception as exc:  # the engine died or the model is broken: keywords still work
                log.warning("document search with vectors failed: %s", type(exc).__name__)
                result = Searcher(idx, None).search(names, question, k=CANDIDATES * scale, mode="bm25")
                notes.append(
                    translate(
                        "chat_context", "The embedding model could not be used: keyword search (BM25) only."
                    )
                )
            hits = result.hits
            if result.note:
                notes.append(result.note)
    finally:
        if own_index:
            idx.close()

    fixed = (
        estimate_tokens(instructions)
        + estimate_tokens(question)
        + 2 * MESSAGE_OVERHEAD
        + 24  # "Sources:" and the gaps around it
    )
    room = max(0, n_ctx - answer_tokens - fixed)
    history_need = sum(_cost(m) for m in history_messages)
    history_room = min(history_need, int(room * HISTORY_SHARE / scale))
    packed = prompting.pack_sources(hits, budget_tokens=room - history_room, max_sources=MAX_SOURCES * scale)
    history = _fit_history(history_messages, room - packed.tokens)
    messages = prompting.build_messages(question, packed, history, system_prompt=instructions)

    if names and not packed.sources:
        notes.append(translate("chat_context", "No matching passages were found in the selected documents."))
    elif packed.dropped:
        log.info("%d retrieved passages did not fit the context", packed.dropped)
        if scale > 1 and len(packed.sources) < MAX_SOURCES * scale:  # room, not the cap
            notes.append(
                translate(
                    "chat_context",
                    "No more passages fit this model's context ({tokens} tokens); a longer "
                    "context in the model's settings makes room for more.",
                ).format(tokens=number(n_ctx))
            )
    sources = [SourceRef(s.number, s.label, s.file, s.page, s.text) for s in packed.sources]
    return DocumentPrompt(messages, sources, " ".join(notes) or None)
