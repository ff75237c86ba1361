"""Turn a stored conversation into the messages the engine formats with the chat template.

The context window is finite: when the conversation outgrows it, the oldest turns are left
out (never the system prompt, never the newest question), so the user never sees a
"context exceeded" error. Token counts are estimated from characters here; this errs on the
safe side (about 3 characters a token, where most text runs 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.chat.store import STATUS_ERROR, Message

CHARS_PER_TOKEN = 3.0
TEMPLATE_TOKENS_PER_MESSAGE = 8  # turn markers and role names


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + TEMPLATE_TOKENS_PER_MESSAGE


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
) -> PromptPlan:
    """history ends with the newest user question; failed messages are skipped."""
    usable = [m for m in history if m.status != STATUS_ERROR and m.content.strip()]
    budget = max(0, n_ctx - reserve_for_answer)
    system = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    used = sum(estimate_tokens(m["content"]) for m in system)
    kept: list[dict[str, str]] = []
    for index, message in enumerate(reversed(usable)):
        cost = estimate_tokens(message.content)
        if index > 0 and used + cost > budget:
            break
        kept.append({"role": message.role, "content": message.content})
        used += cost
    kept.reverse()
    # A template may insist the first turn after the system prompt is the user's.
    while len(kept) > 1 and kept[0]["role"] != "user":
        used -= estimate_tokens(kept.pop(0)["content"])
    return PromptPlan(system + kept, used, len(usable) - len(kept))
