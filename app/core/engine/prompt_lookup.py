"""Prompt-lookup decoding for the decode loop (decode.py).

Off by default: when the last tokens also occur
earlier in the conversation (an answer quoting a document or code), the tokens that followed
them there are proposed as a draft and evaluated in one batch with the new token; the greedy
choice at each position accepts the draft up to the first difference. A batch of a few tokens
costs about what one does, so accepted drafts are nearly free (measured 1.5-2.4x on answers
that quote). But llama.cpp's CPU kernels round differently for a batch of several tokens than
for one, so at a near-tie between two tokens the greedy choice can differ from one-token
decoding: the benchmark saw the text change in 3 of 6 prompts (after 34-229 identical
characters). Since an answer at temperature 0 must not change with a speed switch, it stays
off unless ENCLAVE_PROMPT_LOOKUP=on (tests/benchmarks/bench_prompt_lookup.py).
"""

from __future__ import annotations

import os
from typing import Any

from app.core.engine.speculation import DraftSource

LOOKUP_ENV = "ENCLAVE_PROMPT_LOOKUP"
# Off: it can change a greedy answer at a floating-point near-tie (see the module docstring;
# tests/benchmarks/bench_prompt_lookup.py measured it, README's performance table).
PROMPT_LOOKUP_DEFAULT = False


def prompt_lookup_wanted() -> bool:
    value = os.environ.get(LOOKUP_ENV, "").strip().lower()
    if value in ("0", "off", "false", "no"):
        return False
    if value in ("1", "on", "true", "yes"):
        return True
    return PROMPT_LOOKUP_DEFAULT


class PromptLookup(DraftSource):
    """Drafts from the conversation itself: the tokens that followed the latest earlier
    occurrence of the last `n` tokens (n from `max_ngram` down to `min_ngram`).

    It gives up for the rest of an answer whose drafts keep failing (a chat that quotes
    nothing), so such answers pay for a few searches and then nothing."""

    def __init__(
        self,
        max_ngram: int = 3,
        min_ngram: int = 2,
        max_draft: int = 8,
        give_up_after: int = 24,
        min_acceptance: float = 0.25,
    ) -> None:
        super().__init__(max_draft, give_up_after, min_acceptance)
        self.max_ngram = max_ngram
        self.min_ngram = min_ngram

    def draft(self, history: Any, limit: int) -> list[int]:
        """Up to `limit` tokens that may follow `history` (a numpy array of token ids)."""
        import numpy as np

        limit = min(limit, self.max_draft)
        if limit <= 0 or not self.active:
            return []
        n_hist = len(history)
        for n in range(self.max_ngram, self.min_ngram - 1, -1):
            if n_hist <= n:
                continue
            tail = history[-n:]
            # Where the first token of the tail occurs (cheap), then whether the rest follows.
            starts = np.flatnonzero(history[: n_hist - n] == tail[0])
            for start in starts[::-1]:  # the latest occurrence first
                if np.array_equal(history[start : start + n], tail):
                    follow = history[start + n : start + n + limit]
                    if len(follow):
                        return [int(t) for t in follow]
        return []
