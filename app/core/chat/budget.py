"""How much of the model's context the next answer's prompt takes (the context meter), and which
old messages no longer fit: one computation for the meter and the answer itself."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.chat.prompt import TokenCounter, build_messages, message_tokens
from app.core.chat.store import STATUS_COMPLETE, STATUS_ERROR, Message
from app.core.engine import protocol as p


@dataclass(frozen=True)
class ContextBudget:
    """How much of the context the next answer's prompt takes (for the meter)."""

    used_tokens: int
    n_ctx: int
    dropped_messages: int  # oldest messages that no longer fit
    exact: bool  # counted by the model's tokenizer (or the engine, after an answer), not estimated
    forgotten_ids: frozenset[int] = frozenset()  # messages on screen the model no longer sees


def room_for_answer(sampling: p.SamplingParams, n_ctx: int) -> int:
    """Context kept free for the answer: what it may write, but never more than a quarter."""
    return min(sampling.max_tokens, n_ctx // 4)


def measure_budget(
    history: list[Message],
    draft: str,
    system_prompt: str,
    sampling: p.SamplingParams,
    n_ctx: int,
    count: TokenCounter | None = None,
) -> ContextBudget:
    """The budget of the next answer to `history` plus the question being typed (`draft`);
    `count` is the model's token counter (None: estimate)."""
    draft = draft.strip()
    candidates = list(history)
    if draft:
        conversation_id = history[-1].conversation_id if history else 0
        candidates.append(Message(-1, conversation_id, "user", draft, STATUS_COMPLETE, 0.0))
    plan = build_messages(
        candidates, system_prompt, n_ctx, reserve_for_answer=room_for_answer(sampling, n_ctx), count=count
    )
    usable = [m for m in candidates if m.status != STATUS_ERROR and m.content.strip()]
    forgotten = frozenset(m.id for m in usable[: plan.dropped_messages] if m.id >= 0)
    used, exact = plan.estimated_tokens, count is not None
    last = history[-1] if history else None
    if last is not None and last.role == "assistant" and not forgotten:
        # After an answer the engine's own count is known: its prompt plus what it wrote.
        prompt_tokens = last.stats.get("prompt_tokens")
        generated = last.stats.get("generated_tokens")
        if isinstance(prompt_tokens, int) and isinstance(generated, int):
            used = prompt_tokens + generated + (message_tokens(draft, count) if draft else 0)
            exact = not draft or count is not None
    return ContextBudget(used, n_ctx, plan.dropped_messages, exact, forgotten)
