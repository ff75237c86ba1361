"""llama.cpp's sampler chain for the decode loop (decode.py), with as little per-token work as
gives the same tokens.

Sampling without a grammar skips llama_sampler_sample's copy of the whole vocabulary into a
candidate array (262k entries for Gemma 3, ~0.6 ms a token outside llama.cpp's eval timer):
greedy is an argmax over a view of the logits; temperature sampling hands the top-k candidates,
found in numpy, to the same chain (TopKCut); the repeat penalty runs llama.cpp's penalties
sampler on the tokens in its window only, in place (Penalties). Each gives the same token as
the library for the same seed; a tie among the k+1 largest logits, where llama.cpp's sort
order would decide, goes through llama_sampler_sample as before.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

from app.core.engine import protocol as p


class SamplerChain:
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
