"""The answer being written, and what a finished answer keeps of how it was made."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from app.core.cancel import Cancelled
from app.core.chat.store import STATUS_CANCELLED, STATUS_COMPLETE, STATUS_INTERRUPTED, Message
from app.core.engine.base import ClientChatStats, EngineError
from app.core.engine.queue import EngineJob
from app.core.errors import PlainError


@dataclass
class AnswerInProgress:
    """The answer being written: its row, the text so far, and how much of it is saved."""

    message: Message
    pieces: list[str] = field(default_factory=list)
    saved_pieces: int = 0
    last_save: float = field(default_factory=time.monotonic)
    sources: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # kept in the answer's stats at its end
    job: EngineJob[Any] | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def answer_stats(stats: ClientChatStats) -> dict[str, Any]:
    """What an answer keeps of how it was made (shown under it, read by the context meter)."""
    engine = stats.engine
    return {
        "prompt_tokens": engine.prompt_tokens,
        "generated_tokens": engine.generated_tokens,
        "tokens_per_s": round(stats.client_tokens_per_s, 2),
        "engine_tokens_per_s": round(engine.engine_eval_tokens_per_s, 2),
        "time_to_first_token_s": round(stats.time_to_first_token_s, 4),
        "model": stats.model,
        "source": stats.source,
        "finish_reason": engine.finish_reason,
    }


def longer_text(streamed: str, partial: str) -> str:
    """What arrived: the session saw every piece; the engine's copy may have one more."""
    return partial if len(partial) > len(streamed) else streamed


def finished_answer(
    answer: AnswerInProgress, future: Future[tuple[str, ClientChatStats]]
) -> tuple[str, str, dict[str, Any], Exception | None]:
    """How an answer's engine work ended: (its text, status, stats to keep, the failure if it
    failed). The stats carry its sources and extras."""
    failure: Exception | None = None
    stats: dict[str, Any] = {}
    try:
        text, chat_stats = future.result()
        status = STATUS_CANCELLED if chat_stats.engine.finish_reason == "cancelled" else STATUS_COMPLETE
        stats = answer_stats(chat_stats)
    except Cancelled:  # stopped before the engine started on it (or during the documents step)
        text, status = answer.text, STATUS_CANCELLED
    except EngineError as exc:
        text, status, failure = longer_text(answer.text, exc.partial_text), STATUS_INTERRUPTED, exc
        stats = {"error": exc.kind}
    except PlainError as exc:  # e.g. the file to summarise cannot be read
        text, status, failure = answer.text, STATUS_INTERRUPTED, exc
        stats = {"error": "document"}
    except Exception as exc:  # a bug: the caller keeps the text, says so, logs the traceback
        text, status, failure = answer.text, STATUS_INTERRUPTED, exc
        stats = {"error": "internal"}
    if answer.sources:
        stats["sources"] = answer.sources
    stats.update(answer.extra)
    return text, status, stats, failure
