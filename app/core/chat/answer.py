"""The answer being written, and what a finished answer keeps of how it was made."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from app.core.chat.store import Message
from app.core.engine.base import ClientChatStats
from app.core.engine.queue import EngineJob


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
