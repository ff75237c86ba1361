"""What the decode loop (decode.py) asks of a source of draft tokens, and the counts every
source keeps: prompt lookup (prompt_lookup.py) copies drafts from the conversation, a draft
model (draft_model.py) writes them with a small sibling of the chat model.

The loop checks a draft by sampling at each of its positions in one batch, as the one-token
loop would have sampled there, so a source only changes how fast an answer comes, never which
tokens it may hold (up to the rounding of a batch: prompt_lookup.py's docstring)."""

from __future__ import annotations

from typing import Any


class DraftSource:
    """Counts for one answer, and giving up on drafts that keep failing: an answer whose
    drafts the model rejects stops paying for them after `give_up_after` proposed tokens."""

    def __init__(self, max_draft: int, give_up_after: int = 24, min_acceptance: float = 0.25) -> None:
        self.max_draft = max_draft
        self.give_up_after = give_up_after
        self.min_acceptance = min_acceptance
        self.proposed = 0  # draft tokens proposed in this answer
        self.accepted = 0  # ... of which the model agreed with
        self.batches = 0  # decodes that carried a draft

    @property
    def active(self) -> bool:
        if self.proposed < self.give_up_after:
            return True
        return self.accepted >= self.min_acceptance * self.proposed

    def draft(self, history: Any, limit: int) -> list[int]:
        """Up to `limit` tokens that may follow `history` (a numpy array of token ids: the
        prompt and the answer so far, the last one being evaluated with the draft)."""
        raise NotImplementedError
