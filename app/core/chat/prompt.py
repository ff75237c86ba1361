"""Turn a stored conversation into the messages the engine formats with the chat template.

The context window is finite: when the conversation outgrows it, the oldest turns are left
out (never the system prompt, never the newest question), so the user never sees a
"context exceeded" error. Tokens are counted with the model's own tokenizer when the caller
has it (engine/token_counter.py: the one counter of the app); until its vocabulary is loaded,
they are estimated from characters (about 3 a token: safe for prose, short for code and CJK).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.core.chat.store import STATUS_ERROR, Message

CHARS_PER_TOKEN = 3.0
TEMPLATE_TOKENS_PER_MESSAGE = 8  # turn markers and role names

TokenCounter = Callable[[str], int]  # text -> tokens (engine.token_counter.TokenCounter)


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + TEMPLATE_TOKENS_PER_MESSAGE


def message_tokens(text: str, count: TokenCounter | None = None) -> int:
    """What one message costs in the prompt: its text, counted by the model's tokenizer when
    `count` is given (else estimated), plus its turn markers."""
    if count is None:
        return estimate_tokens(text)
    return count(text) + TEMPLATE_TOKENS_PER_MESSAGE


@dataclass(frozen=True)
class PromptPlan:
    messages: list[dict[str, str]]
    estimated_tokens: int
    dropped_messages: int  # oldest messages left out to fit the context


def build_messages(
    history: list[Message],
    system_prompt: str,
    n_ctx: int,
    reserve_for_answer: int,
    count: TokenCounter | None = None,
) -> PromptPlan:
    """history ends with the newest user question; failed messages are skipped. `count` is the
    model's token counter (None: estimate)."""
    usable = [m for m in history if m.status != STATUS_ERROR and m.content.strip()]
    budget = max(0, n_ctx - reserve_for_answer)
    system = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    used = sum(message_tokens(m["content"], count) for m in system)
    kept: list[dict[str, str]] = []
    for index, message in enumerate(reversed(usable)):
        cost = message_tokens(message.content, count)
        if index > 0 and used + cost > budget:
            break
        kept.append({"role": message.role, "content": message.content})
        used += cost
    kept.reverse()
    # A template may insist the first turn after the system prompt is the user's.
    while len(kept) > 1 and kept[0]["role"] != "user":
        used -= message_tokens(kept.pop(0)["content"], count)
    return PromptPlan(system + kept, used, len(usable) - len(kept))
