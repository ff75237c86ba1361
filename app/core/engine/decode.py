"""The engine host's decode loop: llama.cpp's own sampler chain and llama_decode, one token at a
time, with as little Python per token as we can manage.

Why not llama-cpp-python's create_completion: for every token it detokenizes the whole answer
so far (twice when streaming), scans it for stop strings and builds a few dicts; on a small
model that is several per cent of each token (measured: the window got ~0.94 of llama.cpp's
eval tokens/s). Here each token costs one sample call, one piece lookup, a look at the last few
bytes for stop strings and one decode call.

What stays exactly as llama-cpp-python does it, so answers do not change: the prompt (the same
chat formatter and tokenization create_chat_completion uses), the sampler chain (same samplers
in the same order, same seed handling), the KV cache prefix reuse across turns (llm.input_ids /
llm.n_tokens stay consistent, so the library path and ConversationStates keep working), EOG
tokens end the answer, and the last sampled token is not evaluated (the next turn's prompt
evaluates it). Two deliberate differences, both at the edges:
- max_tokens is a hard limit. The library keeps sampling past it while the last character is
  an incomplete multi-byte sequence; here the incomplete bytes are dropped.
- With several stop strings in the text at once, the earliest one ends the answer (the library
  takes the first in list order while streaming).

Sampling without a grammar skips llama_sampler_sample's copy of the whole vocabulary into a
candidate array (262k entries for Gemma 3, ~0.6 ms a token outside llama.cpp's eval timer):
greedy is an argmax over a view of the logits; temperature sampling hands the top-k candidates,
found in numpy, to the same chain (TopKCut); the repeat penalty runs llama.cpp's penalties
sampler on the tokens in its window only, in place (Penalties). Each gives the same token as
the library for the same seed; a tie among the k+1 largest logits, where llama.cpp's sort
order would decide, goes through llama_sampler_sample as before.

ENCLAVE_DECODE_LOOP=library switches back to llama-cpp-python's loop, for comparison.

Prompt-lookup decoding (greedy answers only, off by default): when the last tokens also occur
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

import codecs
import ctypes
import math
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.engine import protocol as p

SWITCH_ENV = "ENCLAVE_DECODE_LOOP"
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


class PromptLookup:
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
        self.max_ngram = max_ngram
        self.min_ngram = min_ngram
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


def library_loop_wanted() -> bool:
    """True when ENCLAVE_DECODE_LOOP=library asks for llama-cpp-python's create_*completion."""
    return os.environ.get(SWITCH_ENV, "").strip().lower() == "library"


@dataclass(frozen=True)
class Prompt:
    tokens: list[int]
    stops: list[str] = field(default_factory=list)
    # Jinja templates' stopping criterion: the answer ends when the last evaluated token is one
    # of these (llama-cpp-python checks it in the same place, before each sampled token).
    stop_token_ids: frozenset[int] = frozenset()
    strip_leading_space: bool = False  # an empty completion prompt: the library strips it too


def _formatter_of(handler: Any) -> Any:
    """The ChatFormatter inside a handler made by chat_formatter_to_chat_completion_handler, or
    None for handlers that do more than format (functionary, vision): those keep the library."""
    code = getattr(handler, "__code__", None)
    closure = getattr(handler, "__closure__", None)
    if code is None or not closure or "chat_formatter_to_chat_completion_handler" not in getattr(
        handler, "__qualname__", ""
    ):
        return None
    for name, cell in zip(code.co_freevars, closure, strict=False):
        if name == "chat_formatter":
            return cell.cell_contents
    return None


def chat_prompt(
    llm: Any, messages: list[dict[str, Any]], tools: Any, tool_choice: Any, stop: Sequence[str]
) -> Prompt | None:
    """The prompt create_chat_completion would build for these messages (same handler choice,
    same formatter call, same tokenization), or None when the handler is not a plain formatter."""
    from llama_cpp import llama_chat_format

    handler = (
        llm.chat_handler
        or llm._chat_handlers.get(llm.chat_format)
        or llama_chat_format.get_chat_completion_handler(llm.chat_format)
    )
    formatter = _formatter_of(handler)
    if formatter is None:
        return None
    result = formatter(
        messages=messages, functions=None, function_call=None, tools=tools, tool_choice=tool_choice
    )
    stop_ids: frozenset[int] = frozenset()
    if result.stopping_criteria is not None:
        if not isinstance(formatter, llama_chat_format.Jinja2ChatFormatter):
            return None  # a criterion we cannot read: let the library apply it
        stop_ids = frozenset(formatter.stop_token_ids or ())
    tokens = llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
    stops = list(stop)
    if result.stop is not None:
        stops += result.stop if isinstance(result.stop, list) else [result.stop]
    return Prompt(tokens=tokens, stops=stops, stop_token_ids=stop_ids)


def completion_prompt(llm: Any, prompt: str, stop: Sequence[str]) -> Prompt | None:
    """The tokens create_completion builds for a text prompt (BOS/CLS and SEP as it adds them);
    None for an empty prompt (the library's special case, left to it)."""
    if not prompt:
        return None
    model = llm._model
    bos = llm.token_bos()
    cls, sep = model.token_cls(), model.token_sep()
    bos_tokens = [cls if cls != -1 else bos]
    if not model.add_bos_token() or bos_tokens[:1] == [-1]:
        bos_tokens = []
    eos_tokens = [sep if sep != -1 else llm.token_eos()]
    if not model.add_eos_token() and sep == -1:
        eos_tokens = []
    tokens = bos_tokens + llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) + eos_tokens
    return Prompt(tokens=tokens, stops=list(stop))


class _Chain:
    """llama.cpp's sampler chain, built as llama-cpp-python's Llama._init_sampler builds it.

    Without a grammar, the repeat penalty is not in the chain: `penalize` applies llama.cpp's
    own penalties sampler to the few tokens it can change (those in its window), in place in
    the logits, so the chain after it, or an argmax, sees the same numbers as the library's."""

    def __init__(self, llm: Any, sampling: Any, grammar: Any, seed: int) -> None:
        import llama_cpp.llama_cpp as raw

        self._raw = raw
        self.chain = raw.llama_sampler_chain_init(raw.llama_sampler_chain_default_params())
        self.penalties: Any = None  # the penalties sampler when it is applied outside the chain
        self.last_n = max(int(llm.last_n_tokens_size), 0)

        def add(sampler: Any) -> None:
            if not sampler:
                raise p.SentenceError(
                    p.host_sentence("decode", "The engine could not set up sampling for this request.")
                )
            raw.llama_sampler_chain_add(self.chain, sampler)

        try:
            # At 1.0 (and no frequency/presence penalty) llama.cpp's penalties sampler returns
            # at once, so leaving it out changes nothing but saves a call per token.
            penalty = sampling.repeat_penalty != 1.0 and self.last_n > 0
            if penalty and grammar is None:
                self.penalties = raw.llama_sampler_init_penalties(
                    llm._n_vocab, self.last_n, sampling.repeat_penalty, 0.0, 0.0)
                if not self.penalties:
                    add(self.penalties)  # raises the plain sentence
            elif penalty:
                add(raw.llama_sampler_init_penalties(
                    llm._n_vocab, self.last_n, sampling.repeat_penalty, 0.0, 0.0))
            if grammar is not None:
                add(raw.llama_sampler_init_grammar(
                    llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")))
            temp = sampling.temperature
            # Plain greedy needs no chain: an argmax over the logits gives the same token (the
            # first of equal maxima, as llama.cpp's greedy sampler) without building and scanning
            # a candidate array of the whole vocabulary (262k entries for Gemma 3) each token.
            self.argmax = temp == 0.0 and grammar is None
            # The top-k cut (TopKCut) before the chain: temperature sampling with a top-k.
            self.top_k = int(sampling.top_k) if temp > 0.0 and grammar is None else 0
            if temp < 0.0:
                add(raw.llama_sampler_init_dist(seed))
            elif temp == 0.0:
                add(raw.llama_sampler_init_greedy())
            else:
                # The library also adds typical(1.0), which returns at once for p >= 1.
                add(raw.llama_sampler_init_top_k(sampling.top_k))
                add(raw.llama_sampler_init_top_p(sampling.top_p, 1))
                add(raw.llama_sampler_init_min_p(sampling.min_p, 1))
                add(raw.llama_sampler_init_temp(temp))
                add(raw.llama_sampler_init_dist(seed))
        except BaseException:
            self.free()
            raise

    def free(self) -> None:
        if self.chain:
            self._raw.llama_sampler_free(self.chain)
            self.chain = None
        if self.penalties:
            self._raw.llama_sampler_free(self.penalties)
        self.penalties = None


_TOKEN_DATA = (("id", "<i4"), ("logit", "<f4"), ("p", "<f4"))  # struct llama_token_data


class _TokenData:
    """A llama_token_data_array over a numpy buffer that grows as needed."""

    def __init__(self, raw: Any, capacity: int) -> None:
        import numpy as np

        self._raw = raw
        self._dtype = np.dtype(list(_TOKEN_DATA))
        assert self._dtype.itemsize == ctypes.sizeof(raw.llama_token_data)
        self.array = raw.llama_token_data_array(data=None, size=0, selected=-1, sorted=False)
        self.ref = ctypes.byref(self.array)
        self._grow(capacity)

    def _grow(self, capacity: int) -> None:
        import numpy as np

        self.buffer = np.zeros(capacity, dtype=self._dtype)
        self.ids, self.logits, self.p = self.buffer["id"], self.buffer["logit"], self.buffer["p"]
        self.array.data = self.buffer.ctypes.data_as(self._raw.llama_token_data_p)

    def fill(self, ids: Any, logits: Any) -> None:
        """As llama_sampler_sample fills its array: id, logit, p = 0; unsorted."""
        n = len(ids)
        if n > len(self.buffer):
            self._grow(max(n, 2 * len(self.buffer)))
        self.ids[:n] = ids
        self.logits[:n] = logits
        self.p[:n] = 0.0
        array = self.array
        array.size = n
        array.selected = -1
        array.sorted = False


class TopKCut:
    """Temperature sampling through llama.cpp's chain, over the top-k candidates only.

    llama_sampler_sample copies the whole vocabulary into a candidate array (262k entries for
    Gemma 3) and its top-k sampler partially sorts all of it: ~0.6 ms a token here, outside
    llama.cpp's eval timer. The chain's first sampler is top-k, so its result depends only on
    the k largest logits; everything after it sees those k entries alone. So we find a small
    superset of the k largest in numpy, on a view of the logits (no copy): the logits at or
    above `floor`, a value picked so that at least k+1 of them reach it. Those candidates
    (typically a few dozen to a few hundred) go through the same chain (top-k, top-p, min-p,
    temp, dist: the same code, the same random numbers), which then picks the same token.

    The floor is the largest logit minus a spread learnt from the tokens before (a cheap pass
    that usually finds enough); when it does not, the column maxima of the logits, read as
    GROUPS columns, give a floor that is certain: the (k+1)-th largest column maximum is
    reached by at least k+1 logits.

    One case could differ: equal logits among the k+1 largest, which llama.cpp's sort leaves in
    an order that depends on where they sit in its array. Then this token goes through
    llama_sampler_sample as before (`sample` returns None), so the text is the same in every
    case (tests/e2e/test_decode_loop.py compares with the library's loop)."""

    GROUPS = 1024
    MAX_K = 256  # a larger top-k leaves little to cut; the chain does it
    MAX_CANDIDATES = 4096  # more than this after the cheap pass: narrow the spread

    def __init__(self, raw: Any, chain: Any, n_vocab: int, k: int) -> None:
        import numpy as np

        self._raw = raw
        self.chain = chain
        self.k = k
        self.rows = n_vocab // self.GROUPS
        self.main = self.rows * self.GROUPS  # the rest (< GROUPS logits) are always candidates
        self.data = _TokenData(raw, 4 * max(k, 64))
        self.mask = np.empty(n_vocab, dtype=bool)
        self.spread = 8.0
        self.fallbacks = 0

    # Below this the chain over the whole vocabulary is as cheap: measured in the engine host,
    # SmolLM2 (49k entries) got 0.979 of llama.cpp's eval rate with the chain and 0.975 with
    # the cut; Gemma 3 (262k) 0.964 with the chain and 0.980 with the cut (numpy's fixed
    # cost per call, ~0.25 ms a token, against the chain's ~2.4 us per thousand entries).
    MIN_VOCAB = 100_000

    @classmethod
    def usable(cls, n_vocab: int, k: int) -> bool:
        return 0 < k <= cls.MAX_K and n_vocab >= cls.MIN_VOCAB

    def _certain(self, logits: Any) -> tuple[Any, Any] | None:
        """Candidates from the column maxima: certain to hold the k+1 largest."""
        import numpy as np

        k, groups = self.k, self.GROUPS
        table = logits[: self.main].reshape(self.rows, groups)
        maxima = table.max(axis=0)
        floor = np.partition(maxima, groups - k - 1)[groups - k - 1]
        if not np.isfinite(floor):
            return None
        columns = np.flatnonzero(maxima >= floor)
        block = table[:, columns]
        hits = np.flatnonzero(block >= floor)
        rows, cols = np.divmod(hits, len(columns))
        ids = rows * groups + columns[cols]
        values = block.ravel()[hits]
        if self.main < len(logits):
            ids = np.concatenate((ids, np.arange(self.main, len(logits))))
            values = np.concatenate((values, logits[self.main :]))
        return ids, values

    def sample(self, logits: Any) -> int | None:
        """The chain's token for these logits (a float32 view of the vocabulary), accepted by
        the chain; None (nothing accepted) where llama_sampler_sample must decide instead."""
        import numpy as np

        k = self.k
        top = float(logits.max())
        if not math.isfinite(top):
            self.fallbacks += 1
            return None
        ids = np.flatnonzero(np.greater_equal(logits, top - self.spread, out=self.mask))
        if len(ids) > k:
            values = logits[ids]
        else:
            found = self._certain(logits)
            if found is None:
                self.fallbacks += 1
                return None
            ids, values = found
        largest = np.sort(values)[-k - 1 :]
        # Next token's spread: what the (k+1)-th largest needed here, with room to vary.
        self.spread = max(1.5 * (top - float(largest[0])), 0.5)
        if len(ids) > self.MAX_CANDIDATES:
            self.spread *= 0.5
        if (largest[1:] == largest[:-1]).any():  # a tie among the k+1 largest: see the docstring
            self.fallbacks += 1
            return None
        data = self.data
        data.fill(ids, values)
        raw = self._raw
        raw.llama_sampler_apply(self.chain, data.ref)
        selected = data.array.selected
        if not 0 <= selected < data.array.size:
            raise RuntimeError(f"the sampler chain selected {selected} of {data.array.size}")
        token = int(data.ids[selected])
        raw.llama_sampler_accept(self.chain, token)
        return token


class Penalties:
    """llama.cpp's repeat penalty applied in place to the logits of the tokens in its window
    (the last `last_n` sampled tokens): the only ones it changes. The library runs the same
    sampler over the whole vocabulary, a hash lookup for each of 262k entries a token."""

    def __init__(self, raw: Any, sampler: Any, last_n: int) -> None:
        import collections

        self._raw = raw
        self.sampler = sampler
        self.window: collections.deque[int] = collections.deque(maxlen=last_n)
        self.data = _TokenData(raw, max(last_n, 1))

    def apply(self, logits: Any) -> None:
        import numpy as np

        if not self.window:
            return
        ids = np.fromiter(set(self.window), dtype=np.intc)
        data = self.data
        data.fill(ids, logits[ids])
        self._raw.llama_sampler_apply(self.sampler, data.ref)
        n = data.array.size
        logits[data.ids[:n]] = data.logits[:n]

    def accept(self, token: int) -> None:
        self._raw.llama_sampler_accept(self.sampler, token)
        self.window.append(token)


class DecodeLoop:
    """Iterate to generate: yields the text each token adds ("" while bytes are held back: an
    incomplete UTF-8 character, or what may be the start of a stop string). Closing the iterator
    (Stop) leaves the model's state consistent. After the loop: finish_reason ("stop" or
    "length"), prompt_tokens, generated_tokens."""

    def __init__(
        self,
        llm: Any,
        prompt: Prompt,
        sampling: Any,
        grammar: Any = None,
        lookup: bool | None = None,
    ) -> None:
        n_ctx = llm.n_ctx()
        # Drafts only where they cannot change the text: greedy argmax decoding (see _Chain).
        self.lookup = PromptLookup() if (prompt_lookup_wanted() if lookup is None else lookup) else None
        n_prompt = len(prompt.tokens)
        if n_prompt >= n_ctx:  # the library's words, which the host turns into a plain sentence
            raise ValueError(f"Requested tokens ({n_prompt}) exceed context window of {n_ctx}")
        max_tokens = sampling.max_tokens
        if max_tokens is None or max_tokens <= 0:
            max_tokens = n_ctx - n_prompt
        self.max_tokens = max_tokens if max_tokens + n_prompt < n_ctx else n_ctx - n_prompt
        self.llm = llm
        self.prompt = prompt
        self.sampling = sampling
        self.grammar = grammar
        self.finish_reason = "length"
        self.prompt_tokens = n_prompt
        self.generated_tokens = 0

    def _seed(self) -> int:
        """The library's seed rule: the given one, or the next of a chain started at the
        model's seed (so seedless answers differ from one another, as before)."""
        llm = self.llm
        if self.sampling.seed is not None:
            llm.set_seed(self.sampling.seed)
        else:
            llm.set_seed(random.Random(llm._seed).randint(0, 2**32))
        return int(llm._seed)

    def _evaluate_prompt(self) -> None:
        """Evaluate what the KV cache does not hold yet (Llama.generate's prefix reuse)."""
        import numpy as np

        llm = self.llm
        tokens = self.prompt.tokens
        reset = True
        if llm.n_tokens > 0:
            n = min(llm.n_tokens, len(tokens))
            differ = np.nonzero(llm.input_ids[:n] != np.asarray(tokens[:n], dtype=np.intc))[0]
            prefix = int(differ[0]) if differ.size else n
            # Always evaluate at least one token, so sampling starts from fresh logits (also
            # after ConversationStates restored a state).
            reuse = prefix - 1 if prefix == len(tokens) else prefix
            if reuse > 0 and llm._ctx.kv_cache_seq_rm(-1, reuse, -1):
                reset = False
                tokens = tokens[reuse:]
                llm.n_tokens = reuse
        if reset:
            llm.reset()
        llm.eval(tokens)

    def __iter__(self) -> Iterator[str]:
        import llama_cpp.llama_cpp as raw

        llm = self.llm
        chain = _Chain(llm, self.sampling, self.grammar, self._seed())
        try:
            self._evaluate_prompt()
            yield from self._loop(raw, chain)
        finally:
            chain.free()

    def _loop(self, raw: Any, sampler: _Chain) -> Iterator[str]:  # noqa: C901 - the hot loop
        import numpy as np

        llm = self.llm
        n_vocab = llm._n_vocab
        n_ctx = llm.n_ctx()
        logits_of, as_array, address = raw.llama_get_logits_ith, np.ctypeslib.as_array, ctypes.addressof
        chain, argmax = sampler.chain, sampler.argmax
        topk = TopKCut(raw, chain, n_vocab, sampler.top_k) if TopKCut.usable(n_vocab, sampler.top_k) else None
        penalties = Penalties(raw, sampler.penalties, sampler.last_n) if sampler.penalties else None
        views: dict[int, Any] = {}  # numpy views of llama.cpp's logits rows, by address

        def logits_row(i: int) -> Any:
            pointer = logits_of(ctx, i)
            if not pointer:
                raise RuntimeError(f"llama.cpp has no logits for output {i}")
            view = views.get(address(pointer.contents))
            if view is None:
                view = views[address(pointer.contents)] = as_array(pointer, shape=(n_vocab,))
            return view

        ctx = llm._ctx.ctx
        vocab = llm._model.vocab
        batch = llm._batch.batch
        b_token, b_pos, b_seq, b_nseq, b_logits = (
            batch.token, batch.pos, batch.seq_id, batch.n_seq_id, batch.logits)
        input_ids = llm.input_ids
        sample, is_eog, decode, to_piece = (
            raw.llama_sampler_sample, raw.llama_vocab_is_eog, raw.llama_decode, raw.llama_token_to_piece)
        size = 64
        buffer = ctypes.create_string_buffer(size)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        stops = [s.encode("utf-8") for s in self.prompt.stops if s]
        stop_ids = self.prompt.stop_token_ids
        strip_space = self.prompt.strip_leading_space
        max_tokens = self.max_tokens
        # Drafts are checked by argmax on the raw logits: not with a penalty that changes them.
        lookup = self.lookup if argmax and penalties is None else None
        max_batch = max(1, min(int(getattr(llm, "n_batch", 512)), 64))
        pending = b""  # bytes not yet given out: maybe the start of a stop string
        generated = 0
        # Prompt lookup: draft tokens the model agreed with, already in the KV cache; the next
        # greedy token after them comes from the logits at batch index `logits_at`.
        ahead: list[int] = []
        logits_at = -1
        # The KV cache as the one-token loop would leave it: the prompt and every given-out
        # token that it went on to evaluate. Accepted drafts beyond that are trimmed at the end.
        keep = llm.n_tokens
        last = int(input_ids[llm.n_tokens - 1])
        # One token a step: only its id and position change in the batch from here on.
        b_seq[0][0], b_nseq[0], b_logits[0] = 0, 1, True
        try:
            while True:
                if stop_ids and last in stop_ids:
                    self.finish_reason = "stop"
                    break
                evaluated = bool(ahead)
                if evaluated:
                    token = ahead.pop(0)
                elif argmax:
                    logits = logits_row(logits_at)
                    if penalties is not None:
                        penalties.apply(logits)
                        token = int(logits.argmax())
                        penalties.accept(token)
                    else:
                        token = int(logits.argmax())
                elif topk is not None:
                    logits = logits_row(-1)
                    if penalties is not None:
                        penalties.apply(logits)
                    picked = topk.sample(logits)
                    token = sample(chain, ctx, -1) if picked is None else picked
                    if penalties is not None:
                        penalties.accept(token)
                else:
                    if penalties is not None:
                        penalties.apply(logits_row(-1))
                    token = sample(chain, ctx, -1)
                    if penalties is not None:
                        penalties.accept(token)
                if is_eog(vocab, token):
                    self.finish_reason = "stop"
                    break
                generated += 1
                self.generated_tokens = generated
                n = to_piece(vocab, token, buffer, size, 0, False)
                if n < 0:  # a piece longer than the buffer: grow it once for this model
                    size = -n
                    buffer = ctypes.create_string_buffer(size)
                    n = to_piece(vocab, token, buffer, size, 0, False)
                piece = buffer.raw[:n]
                if strip_space:
                    strip_space = False
                    if piece.startswith(b" "):
                        piece = piece[1:]
                pending += piece
                if stops:
                    cut = min((i for i in (pending.find(s) for s in stops) if i >= 0), default=-1)
                    if cut >= 0:
                        self.finish_reason = "stop"
                        yield decoder.decode(pending[:cut], final=True)
                        return
                    hold = 0
                    for s in stops:
                        for i in range(min(len(s) - 1, len(pending)), hold, -1):
                            if pending.endswith(s[:i]):
                                hold = i
                                break
                    if hold:
                        out, pending = pending[:-hold], pending[-hold:]
                    else:
                        out, pending = pending, b""
                    text = decoder.decode(out) if out else ""
                else:
                    text = decoder.decode(pending)
                    pending = b""
                if generated >= max_tokens:
                    self.finish_reason = "length"
                    yield text + decoder.decode(pending, final=True)
                    return
                yield text
                last = token
                keep += 1
                if evaluated:
                    continue
                # Evaluate the token (the library does this when it resumes its generator),
                # with a draft behind it when the conversation offers one.
                pos = llm.n_tokens
                input_ids[pos] = token
                draft: list[int] = []
                if lookup is not None:
                    room = min(max_tokens - generated - 1, n_ctx - pos - 2, max_batch - 1)
                    draft = lookup.draft(input_ids[: pos + 1], room)
                b_token[0] = token
                b_pos[0] = pos
                batch.n_tokens = 1 + len(draft)
                for i, t in enumerate(draft, 1):
                    b_token[i] = t
                    b_pos[i] = pos + i
                    b_seq[i][0] = 0
                    b_nseq[i] = 1
                    b_logits[i] = True
                code = decode(ctx, batch)
                if code != 0:
                    raise RuntimeError(f"llama_decode returned {code}")
                if not draft:
                    llm.n_tokens = pos + 1
                    logits_at = -1
                    continue
                # The greedy choice after each position; the draft stands while it agrees.
                assert lookup is not None
                accepted = 0
                for i, t in enumerate(draft):
                    if int(logits_row(i).argmax()) != t:
                        break
                    accepted += 1
                lookup.batches += 1
                lookup.proposed += len(draft)
                lookup.accepted += accepted
                ahead = draft[:accepted]
                input_ids[pos + 1 : pos + 1 + accepted] = ahead
                llm.n_tokens = pos + 1 + accepted
                logits_at = accepted
                if accepted < len(draft):  # the cache forgets the rejected part of the draft
                    llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
            yield decoder.decode(pending, final=True)
        finally:
            if llm.n_tokens > keep:
                llm._ctx.kv_cache_seq_rm(-1, keep, -1)
                llm.n_tokens = keep
