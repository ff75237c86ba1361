"""The decode loop's top-k cut (app/core/engine/decode.py TopKCut) against llama.cpp's own chain
over the whole vocabulary: the same token for the same seed, with real llama.cpp samplers and
no model (the samplers need none). Ties among the k+1 largest logits go back to the full chain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

raw: Any = pytest.importorskip("llama_cpp.llama_cpp")

from app.core.engine.sampling import Penalties, TopKCut, _TokenData  # noqa: E402

N_VOCAB = 262_144  # Gemma 3's vocabulary


def chain(seed: int, k: int = 40, top_p: float = 0.95, min_p: float = 0.05, temp: float = 0.7) -> Any:
    c = raw.llama_sampler_chain_init(raw.llama_sampler_chain_default_params())
    for sampler in (raw.llama_sampler_init_top_k(k), raw.llama_sampler_init_top_p(top_p, 1),
                    raw.llama_sampler_init_min_p(min_p, 1), raw.llama_sampler_init_temp(temp),
                    raw.llama_sampler_init_dist(seed)):  # fmt: skip
        raw.llama_sampler_chain_add(c, sampler)
    return c


def full_chain_token(c: Any, logits: Any) -> int:
    """What llama_sampler_sample does: every token into the array, apply, accept."""
    data = _TokenData(raw, len(logits))
    data.fill(np.arange(len(logits), dtype=np.intc), logits)
    raw.llama_sampler_apply(c, data.ref)
    token = int(data.ids[data.array.selected])
    raw.llama_sampler_accept(c, token)
    return token


@pytest.mark.parametrize(("k", "temp", "scale"), [(40, 0.7, 3.0), (100, 1.0, 1.0), (5, 0.3, 6.0)])
def test_same_tokens_as_the_chain_over_the_whole_vocabulary(k: int, temp: float, scale: float) -> None:
    rng = np.random.default_rng(k)
    ours, reference = chain(11, k=k, temp=temp), chain(11, k=k, temp=temp)
    cut = TopKCut(raw, ours, N_VOCAB, k)
    try:
        for step in range(60):
            logits = (rng.standard_normal(N_VOCAB) * scale).astype(np.float32)
            if step % 7 == 0:  # a peaked distribution now and then
                logits[rng.integers(N_VOCAB, size=3)] += 25.0
            if step % 11 == 0:  # and a flat one
                logits *= 0.01
            picked = cut.sample(logits)
            assert picked is not None
            assert picked == full_chain_token(reference, logits)
    finally:
        raw.llama_sampler_free(ours)
        raw.llama_sampler_free(reference)


def test_a_tie_among_the_largest_goes_to_the_full_chain() -> None:
    c = chain(3)
    try:
        cut = TopKCut(raw, c, N_VOCAB, 40)
        logits = np.random.default_rng(0).standard_normal(N_VOCAB).astype(np.float32)
        logits[[10, 20_000]] = 9.0  # two equal largest logits
        assert cut.sample(logits) is None
        logits[20_000] = 8.0
        assert cut.sample(logits) is not None
        assert cut.fallbacks == 1
    finally:
        raw.llama_sampler_free(c)


def test_odd_vocabulary_sizes_keep_the_rest_as_candidates() -> None:
    n_vocab = 49_152 + 517  # not a multiple of the column count
    rng = np.random.default_rng(5)
    ours, reference = chain(2), chain(2)
    cut = TopKCut(raw, ours, n_vocab, 40)
    try:
        for _ in range(20):
            logits = rng.standard_normal(n_vocab).astype(np.float32)
            logits[-3] = 12.0  # the largest sits in the last, partial column
            assert cut.sample(logits) == full_chain_token(reference, logits)
    finally:
        raw.llama_sampler_free(ours)
        raw.llama_sampler_free(reference)


def test_nan_or_infinity_at_the_top_goes_to_the_full_chain() -> None:
    c = chain(4)
    try:
        cut = TopKCut(raw, c, N_VOCAB, 40)
        logits = np.random.default_rng(2).standard_normal(N_VOCAB).astype(np.float32)
        for bad in (np.nan, np.inf):
            spoilt = logits.copy()
            spoilt[123] = bad
            assert cut.sample(spoilt) is None
        few = np.full(N_VOCAB, -np.inf, dtype=np.float32)
        few[:10] = 1.0 + np.arange(10)  # fewer than k+1 finite logits
        assert cut.sample(few) is None
        assert cut.fallbacks == 3
        assert cut.sample(logits) is not None
    finally:
        raw.llama_sampler_free(c)


def test_penalties_in_place_equal_the_sampler_over_the_whole_vocabulary() -> None:
    rng = np.random.default_rng(1)
    ours = raw.llama_sampler_init_penalties(N_VOCAB, 64, 1.3, 0.0, 0.0)
    reference = raw.llama_sampler_init_penalties(N_VOCAB, 64, 1.3, 0.0, 0.0)
    penalties = Penalties(raw, ours, 64)
    try:
        for token in rng.integers(1000, size=100):
            penalties.accept(int(token))
            raw.llama_sampler_accept(reference, int(token))
        logits = rng.standard_normal(N_VOCAB).astype(np.float32)
        before = logits.copy()
        expected = _TokenData(raw, N_VOCAB)
        expected.fill(np.arange(N_VOCAB, dtype=np.intc), logits)
        raw.llama_sampler_apply(reference, expected.ref)
        penalties.apply(logits)
        assert np.array_equal(logits, expected.logits[:N_VOCAB])
        changed = np.flatnonzero(logits != before)
        assert 0 < len(changed) <= 64 and set(changed) <= set(int(t) for t in penalties.window)
    finally:
        raw.llama_sampler_free(ours)
        raw.llama_sampler_free(reference)
