"""Speculative decoding with a draft model: a small sibling of the chat model (same tokenizer,
a fraction of its size) writes a few tokens greedily, the chat model checks them in one batch
(decode.py samples at each position, so the text is the chat model's own).

It pays where checking a batch of tokens costs about what one token costs: a model on a GPU,
whose decode is bound by reading the weights. On a CPU with few cores a batch is compute-bound
(measured on 2 cores, Qwen2.5-Coder 1.5B: 56 ms for one token, 110 ms for three), so drafts
cost more than they save; tests/benchmarks/bench_draft_model.py measures it. Off unless a
draft model is asked for (LoadRequest.draft_model_path, `enclave chat --draft-model`).

The draft model keeps its own KV cache in step with the conversation: each call evaluates what
it does not hold yet (the prompt once, then the tokens accepted since), reusing the common
prefix as the chat model's cache does."""

from __future__ import annotations

import logging
import os
from typing import Any

from app.core.engine import protocol as p
from app.core.engine.decode import catch_up
from app.core.engine.speculation import DraftSource

# Draft tokens a round: more are wasted when the chat model disagrees early, fewer save less.
DRAFT_TOKENS = 4

log = logging.getLogger("enclave.engine.draft")


def vocabulary_sizes_match(n_chat: int, n_draft: int) -> bool:
    """Whether two vocabularies are near enough in size to be one family's: families add
    reserved ids at the end (Qwen2.5: 151,936 or 152,064); the ids both have must then agree."""
    return abs(n_chat - n_draft) <= max(n_chat, n_draft) // 100


def incompatibility(chat_llm: Any, draft_llm: Any) -> str:
    """Why draft_llm cannot draft for chat_llm (in English, for the log and the notice), or "".
    A draft proposes token ids, so both models must give each id the same text."""
    chat_model, draft_model = chat_llm._model, draft_llm._model
    n_chat, n_draft = chat_llm._n_vocab, draft_llm._n_vocab
    if not vocabulary_sizes_match(n_chat, n_draft):
        return f"its vocabulary has {n_draft} tokens, the chat model's {n_chat}"
    if chat_llm.token_bos() != draft_llm.token_bos() or chat_llm.token_eos() != draft_llm.token_eos():
        return "its start and end tokens differ from the chat model's"
    shared = min(n_chat, n_draft)
    step = max(1, shared // 4000)
    for token in range(0, shared, step):
        if chat_model.token_get_text(token) != draft_model.token_get_text(token):
            return f"token {token} is {draft_model.token_get_text(token)!r} in it and " \
                f"{chat_model.token_get_text(token)!r} in the chat model"
    return ""


class DraftModel(DraftSource):
    """Drafts written greedily by a small model of the same family (its Llama object, loaded
    once by the host; this object keeps one answer's counts)."""

    def __init__(self, llm: Any, vocab_limit: int, max_draft: int = DRAFT_TOKENS) -> None:
        super().__init__(max_draft)
        import llama_cpp.llama_cpp as raw

        self.llm = llm
        self.vocab_limit = vocab_limit  # ids the chat model has
        self._raw = raw

    def draft(self, history: Any, limit: int) -> list[int]:
        import numpy as np

        limit = min(limit, self.max_draft)
        if limit <= 0 or not self.active:
            return []
        llm, raw = self.llm, self._raw
        if len(history) >= llm.n_ctx() - limit:
            return []  # the draft model's context is full: answer on without drafts
        catch_up(llm, history)
        ctx, vocab, n_vocab = llm._ctx.ctx, llm._model.vocab, llm._n_vocab
        drafted: list[int] = []
        while True:
            logits = np.ctypeslib.as_array(raw.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
            token = int(logits.argmax())
            if token >= self.vocab_limit or raw.llama_vocab_is_eog(vocab, token):
                break  # the chat model decides where the answer ends
            drafted.append(token)
            if len(drafted) >= limit:
                break
            llm.eval([token])
        return drafted


def load_draft(path: str, chat_llm: Any, n_gpu_layers: int, threads: int) -> tuple[Any, p.Sentence | None]:
    """The draft model's Llama for chat_llm, or (None, why not in plain words). n_gpu_layers is
    the planner's (app/core/draft_plan.py: all its layers beside a chat model wholly on one GPU,
    else none); the same context length as the chat model."""
    from llama_cpp import Llama

    from app.core.engine.host_load import refuse_unreadable

    name = os.path.basename(path)
    if not os.path.isfile(path) or refuse_unreadable(path) is not None:
        log.warning("draft model %s is missing or unreadable", name)
        # The loader's sentence (loader.py reads the header first; this is the host's own net).
        return None, p.host_sentence(
            "loader", "The draft model {name} could not be read, so answers come without it.",
            name=name,
        )
    try:
        draft_llm = Llama(
            model_path=path,
            n_gpu_layers=n_gpu_layers,
            n_ctx=chat_llm.n_ctx(),
            n_batch=min(512, chat_llm.n_batch),
            n_threads=threads,
            n_threads_batch=threads,
            verbose=True,
        )
    except Exception as exc:  # the host's log has llama.cpp's reason
        log.warning("draft model %s did not load: %s", name, exc)
        return None, p.host_sentence(
            "draft_model", "The draft model {name} could not be loaded, so answers come without it.",
            name=name,
        )
    why = incompatibility(chat_llm, draft_llm)
    if why:
        draft_llm.close()
        log.warning("draft model %s does not fit the chat model: %s", name, why)
        return None, p.host_sentence(
            "draft_model",
            "The draft model {name} does not share this model's vocabulary, so answers come without it.",
            name=name,
        )
    log.info("draft model %s loaded", name)
    return draft_llm, None
