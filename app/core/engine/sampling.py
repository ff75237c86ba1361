"""llama.cpp's sampler chain for the decode loop (decode.py), with as little per-token work as
gives the same tokens.

Sampling without a grammar skips llama_sampler_sample's copy of the whole vocabulary into a
candidate array (262k entries for Gemma 3, ~0.5 ms a token outside llama.cpp's eval timer):
greedy is an argmax over a view of the logits; temperature sampling hands the top-k candidates,
found in numpy, to the same chain (TopKCut); the repeat penalty runs llama.cpp's penalties
sampler on the tokens in its window only, in place (Penalties). Each gives the same token as
the library for the same seed; a tie among the k+1 largest logits, where llama.cpp's sort
order would decide, goes through llama_sampler_sample as before.
"""

from __future__ import annotations

import ctypes
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
    Gemma 3) and its top-k sampler partially sorts all of it: ~0.5 ms a token with warm caches.
    The chain's first sampler is top-k, so its result depends only on the k largest logits;
    everything after it sees those k entries alone. So we find a small superset of the k
    largest in numpy, on a view of the logits (no copy), and hand only those (k+1 to a few
    dozen more) to the same chain (top-k, top-p, min-p, temp, dist: the same code, the same
    random numbers), which then picks the same token.

    The superset comes from one pass over the logits: read as GROUPS columns, their column
    maxima give a floor, the (k+1)-th largest maximum, that at least k+1 logits reach, so every
    one of the k+1 largest logits is at or above it and sits in a column whose maximum is. Only
    those few columns are looked at again. Measured on 256 real Gemma 3 tokens replayed with
    warm caches: median 116 us a token, against 170 us for the earlier version that guessed
    the floor from the previous token (one guess in ten failed and cost two more passes) and
    ~500 us for llama_sampler_sample.

    Where it does not pay: on the CPU alone, right after llama_decode has streamed the model's
    weights through the caches, every numpy call runs cold (~15-80 us each against ~1 us
    warm), and the cut costs ~0.38 ms a token in the decode loop, about what the library's
    chain costs there (tests/benchmarks/bench_sampling.py, 10 pairs: tokens/s 0.976 of the
    chain's, quartiles 0.950-1.065). It should pay where the weights stay out of the CPU's
    caches, a model on a GPU; not measured, no GPU was lent.

    One case could differ: equal logits among the k+1 largest, which llama.cpp's sort leaves in
    an order that depends on where they sit in its array. Then this token goes through
    llama_sampler_sample as before (`sample` returns None), as do logits with a NaN or an
    infinity at the top, so the text is the same in every case (tests/e2e/test_decode_loop.py
    compares with the library's loop)."""

    # Columns: more makes the partition of the column maxima dearer, fewer makes the second
    # look longer; 2048 measured best for a 262k vocabulary.
    GROUPS = 2048
    MAX_K = 256  # a larger top-k leaves little to cut; the chain does it

    def __init__(self, raw: Any, chain: Any, n_vocab: int, k: int) -> None:
        import numpy as np

        self._raw = raw
        self.chain = chain
        self.k = k
        self.rows = n_vocab // self.GROUPS
        self.main = self.rows * self.GROUPS  # the rest (< GROUPS logits) are always candidates
        self.data = _TokenData(raw, 4 * max(k, 64))
        self.maxima = np.empty(self.GROUPS, dtype=np.float32)
        self.fallbacks = 0

    # Below this the chain over the whole vocabulary is as cheap (SmolLM2's 49k entries).
    MIN_VOCAB = 100_000

    @classmethod
    def usable(cls, n_vocab: int, k: int) -> bool:
        return 0 < k <= cls.MAX_K and n_vocab >= cls.MIN_VOCAB

    def candidates(self, logits: Any) -> tuple[Any, Any] | None:
        """Ids and logits of a superset of the k+1 largest logits; None when the logits have a
        NaN or an infinity where it would matter (llama_sampler_sample decides then)."""
        import numpy as np

        k, groups = self.k, self.GROUPS
        table = logits[: self.main].reshape(self.rows, groups)
        maxima = np.maximum.reduce(table, axis=0, out=self.maxima)  # NaN propagates
        floor = np.partition(maxima, groups - k - 1)[groups - k - 1]
        if not np.isfinite(floor) or not np.isfinite(maxima.max()):
            return None
        columns = np.flatnonzero(maxima >= floor)
        block = np.take(table, columns, axis=1)
        hits = np.flatnonzero(block >= floor)
        rows, cols = np.divmod(hits, len(columns))
        ids = rows * groups + columns[cols]
        values = block.ravel()[hits]
        if self.main < len(logits):
            rest = logits[self.main :]
            if not np.isfinite(rest.max()):
                return None
            ids = np.concatenate((ids, np.arange(self.main, len(logits))))
            values = np.concatenate((values, rest))
        return ids, values

    def sample(self, logits: Any) -> int | None:
        """The chain's token for these logits (a float32 view of the vocabulary), accepted by
        the chain; None (nothing accepted) where llama_sampler_sample must decide instead."""
        import numpy as np

        found = self.candidates(logits)
        if found is None:
            self.fallbacks += 1
            return None
        ids, values = found
        largest = np.sort(values)[-self.k - 1 :]
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
