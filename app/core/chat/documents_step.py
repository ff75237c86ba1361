"""The documents step of an answer: passages from the conversation's collections, and
"Summarise this document".

Why a module of its own: the chat session (session.py) owns a conversation's state and tells
its observers what happens; answering from documents adds a different job on top: finding the
passages for a question and building the prompt around them (on the engine thread), saying in
words what the answer waits for meanwhile, how many passages "Use more passages" asks for, and
the engine work that reads a whole file for a summary. None of that keeps state: the session
calls these functions with what they need and applies what they return to the answer it owns,
on its own thread.

The sentences keep the translation context "session", where their translations already are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.chat.store import STATUS_ERROR, Message
from app.core.engine import protocol as p
from app.core.engine.base import ClientChatStats, Engine
from app.core.i18n import translate, translate_noop

COLLECTIONS_KEY = "collections"  # where a conversation keeps its document collections
SUMMARISE_KEY = "summarise"  # a question's stats: "summarise this file" (its absolute path)
PASSAGE_SCALE_KEY = "passage_scale"  # an answer's stats: how many times the usual passages
MAX_PASSAGE_SCALE = 4  # "Use more passages" doubles up to this
# Shown as translate("session", ...).
LOOKING_THROUGH_DOCUMENTS = translate_noop("session", "Looking through your documents…")
READING_QUESTION = translate_noop("session", "Reading your question…")

# Makes the embedder the documents step uses, given the engine that answers: the window passes
# one that follows Settings (bundled model, or the server's embeddings); None: the bundled model
# in the local engine host.
EmbedderFactory = Callable[[Engine], Any]
# What the engine queue runs for an answer: (its text, its stats).
AnswerWork = Callable[[Engine, CancelToken], tuple[str, ClientChatStats]]


# ---- the collection choice -------------------------------------------------------------
def collections_in(settings: Mapping[str, Any]) -> list[str]:
    """The document collections a conversation's settings name."""
    return [str(n) for n in settings.get(COLLECTIONS_KEY, [])]


def with_collections(settings: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A copy of a conversation's settings that names these collections."""
    changed = dict(settings)
    changed[COLLECTIONS_KEY] = list(names)
    return changed


# ---- passages for a question ------------------------------------------------------------
@dataclass(frozen=True)
class Passages:
    """What the documents step found for one answer: the prompt built around the passages,
    the sources to keep with the answer (JSON-ready), and a sentence for the user, if any."""

    messages: list[dict[str, str]]
    sources: list[dict[str, Any]]
    note: str | None
    scale: int = 1  # times the usual number of passages ("Use more passages")

    def extra_stats(self) -> dict[str, Any]:
        """What the answer's stats keep of how its passages were chosen."""
        return {PASSAGE_SCALE_KEY: self.scale} if self.scale > 1 else {}

    def waiting_sentence(self) -> str:
        """What the answer waits for once the passages are found."""
        if not self.sources:
            return translate("session", READING_QUESTION)
        files = len({str(source.get("file", "")) for source in self.sources})
        return translate("session", "Reading your question and {passages} from {documents}…").format(
            passages=translate("session", "%n passages", None, len(self.sources)),
            documents=translate("session", "%n documents", None, files),
        )


def first_waiting_sentence(uses_documents: bool) -> str:
    """What an answer waits for before the documents step has said anything."""
    return translate("session", LOOKING_THROUGH_DOCUMENTS if uses_documents else READING_QUESTION)


@dataclass(frozen=True)
class PassageRequest:
    """What the documents step needs to find passages for the thread's last question, taken
    on the session's thread; `find` runs on the engine thread."""

    question: str
    earlier: list[dict[str, str]]  # the turns before it, as the documents prompt takes them
    collections: list[str]
    n_ctx: int
    answer_tokens: int
    system_prompt: str
    scale: int = 1  # times the usual number of passages ("Use more passages")

    def find(self, embedder: Any, embedding_model: str | None) -> Passages:
        """Passages for the question, and the prompt built around them (on the engine thread:
        embedding the question needs the engine, which answers one request at a time)."""
        # Imported here: the documents stack is only needed once a conversation uses documents.
        from app.core.documents.chat_context import prepare_document_messages

        prompt = prepare_document_messages(
            embedder,
            self.question,
            self.earlier,
            self.collections,
            self.n_ctx,
            self.answer_tokens,
            self.system_prompt,
            embedding_model=embedding_model,
            passage_scale=self.scale,
        )
        sources = [source.to_dict() for source in prompt.sources]
        return Passages(prompt.messages, sources, prompt.note, self.scale)


def passage_request(
    history: Sequence[Message],
    collections: Sequence[str],
    n_ctx: int,
    answer_tokens: int,
    system_prompt: str,
    scale: int = 1,
) -> PassageRequest | None:
    """The documents step for an answer to the last question of `history`; None when the
    conversation uses no collections."""
    names = [c for c in collections if c]
    if not names:
        return None
    earlier = [
        {"role": m.role, "content": m.content}
        for m in history[:-1]
        if m.status != STATUS_ERROR and m.content.strip()
    ]
    question = history[-1].content if history else ""
    return PassageRequest(question, earlier, names, n_ctx, answer_tokens, system_prompt, scale)


# ---- "Use more passages" ----------------------------------------------------------------
def passage_scale(message: Message) -> int:
    """How many times the usual passages this answer was given."""
    return int(message.stats.get(PASSAGE_SCALE_KEY, 1) or 1)


def can_use_more_passages(message: Message) -> bool:
    return bool(message.stats.get("sources")) and passage_scale(message) < MAX_PASSAGE_SCALE


# ---- "Summarise this document" ----------------------------------------------------------
def summary_question(path: str) -> tuple[str, dict[str, Any]]:
    """The question that asks for a summary of this file, and the stats that say so."""
    return translate("session", "Summarise {file}").format(file=Path(path).name), {SUMMARISE_KEY: path}


def summary_asked(history: Sequence[Message]) -> str:
    """The file the last question asks to summarise; "" when it asks something else."""
    return str(history[-1].stats.get(SUMMARISE_KEY) or "") if history else ""


def summary_waiting_sentence(path: str) -> str:
    return translate("session", "Reading {file}…").format(file=Path(path).name)


def unread_sentence(note: str) -> str:
    """Said when a summary could not read all of its file."""
    return translate("session", "Not all of the document was read: {reason}.").format(reason=note)


def summary_work(
    path: str,
    n_ctx: int,
    sampling: p.SamplingParams,
    on_progress: Callable[[str], None],
    on_tokens: Callable[[str], None],
    on_read: Callable[[dict[str, Any], tuple[str, ...]], None],
) -> AnswerWork:
    """The engine work that answers "Summarise <file>": the whole file read in parts
    (documents/summarise.py). The callbacks run on the engine thread: `on_progress` gets each
    step in words, `on_read` what the answer's stats keep of the reading and its notes."""
    from app.core.documents.summarise import summarise_document

    name = Path(path).name

    def work(engine: Engine, token: CancelToken) -> tuple[str, ClientChatStats]:
        result = summarise_document(
            engine,
            Path(path),
            n_ctx,
            sampling=dataclasses.replace(sampling, temperature=min(sampling.temperature, 0.3)),
            on_progress=lambda step: on_progress(step.sentence(name)),
            on_tokens=on_tokens,
            cancel=token,
        )
        info = {
            "summary_of": path,
            "sections": result.sections,
            "parts": result.parts,
            "map_calls": result.map_calls,
            "reduce_calls": result.reduce_calls,
        }
        on_read({"summary": info}, result.notes)
        return result.text, result.last_stats

    return work
