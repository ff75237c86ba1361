"""Which model of the Library drafts for the chat model (speculative decoding, engine/
draft_model.py), when Settings asks for one: a smaller model of the same family.

Only for a chat model wholly on a GPU: there a batch of a few tokens costs about what one does,
so drafts that are accepted are nearly free. On the CPU a batch costs what its tokens cost, and
a draft model made answers slower (0.54-0.77 of the speed without, README), so none is picked.

A draft must give each token id the same text as the chat model: same architecture, a
vocabulary of the same size (families add a few reserved ids: Qwen2.5 151,936 or 152,064) and,
checked token by token when the engine loads both, the same tokens (draft_model.incompatibility).
Of the files that qualify the smallest wins: the draft's own time is the price of every draft.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from app.core.engine.draft_model import vocabulary_sizes_match
from app.core.gguf_facts import ModelFacts, read_model_facts
from app.core.planner import OffloadPlan

log = logging.getLogger("enclave.draft_pairing")

# A draft at most this share of the chat model's weights: a bigger one costs too much of what
# it saves (the usual pairs are 0.5B for 7B-32B; Qwen2.5-Coder 0.5B for 1.5B is a third).
MAX_SHARE = 0.4


def draft_for(chat: ModelFacts, plan: OffloadPlan, library: Iterable[Path]) -> Path | None:
    """The Library's best draft model for `chat` loaded as `plan`, or None."""
    if plan.verdict != "gpu_full" or chat.vocab_size <= 0:
        return None
    found: list[tuple[int, Path]] = []
    for path in library:
        if path == chat.path:
            continue
        try:
            # Too big by its size alone: no need to read its header (a Library of many models).
            if path.stat().st_size > MAX_SHARE * chat.file_size * 1.1:
                continue
            facts = read_model_facts(path)
        except Exception as exc:  # noqa: BLE001 - a file that cannot be read drafts for no one
            log.info("not a draft candidate: %s (%s)", path.name, exc)
            continue
        if _can_draft(chat, facts):
            found.append((facts.weights_bytes, path))
    return min(found)[1] if found else None


def _can_draft(chat: ModelFacts, draft: ModelFacts) -> bool:
    return (
        draft.architecture == chat.architecture
        and draft.has_kv_cache
        and not draft.is_embedding_model
        and vocabulary_sizes_match(chat.vocab_size, draft.vocab_size)
        and draft.weights_bytes <= MAX_SHARE * chat.weights_bytes
    )
