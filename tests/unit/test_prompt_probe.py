"""Prompt speed per tensor type: the synthetic probe files in real llama.cpp, the per-type table
in the speed profile and its cache file, and a prediction that uses each type's own figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.gguf_facts import read_model_facts
from app.core.speed import machine_bench as mb
from app.core.speed import profile_cache as cache
from app.core.speed import prompt_probe as pp
from app.core.speed.predict import (
    DOC_PROMPT_TOKENS,
    attended_positions,
    facts_from_gguf,
    predict,
    predict_facts,
    predict_size,
)
from app.core.speed.quant_types import MEASURED, MIXES, NEAREST, measured_type, mix_of
from tests.unit.test_speed import SLOW, cpu, profile

MIB = 1024**2


def with_table(table: dict[str, float], attention_ns: float = 0.0) -> mb.MachineProfile:
    base = cpu(20.0, 100.0, matvec=20.0)
    speed = mb.DeviceSpeed(
        **{**base.__dict__, "prompt_gflops": tuple(table.items()), "attention_ns": attention_ns}
    )
    return profile(speed)


# --- the probe in llama.cpp ---------------------------------------------------------------------


def test_probe_files_are_llamas_own_types_and_run_in_llama_cpp() -> None:
    from app.core.documents.local_embedder import _quiet_llama

    _quiet_llama()
    files = pp.ensure_models(("Q4_K", "Q6_K", "Q4_1"), threads=2)
    assert set(files) == {"Q4_K", "Q6_K", "Q4_1"} and all(p.parent == pp.folder() for p in files.values())
    for type_name, path in files.items():
        facts = read_model_facts(path)
        # Pure quantization of 1024/2816-wide rows: no tensor fell back to another type (a width
        # that is not a multiple of 256 would turn Q4_K into Q5_0, Q6_K into Q8_0).
        assert facts.matrix_params == ((type_name, pp.SHAPE.layer_params),), facts.matrix_params
        assert facts.architecture == "llama" and facts.block_count == pp.N_LAYER
    stamps = {name: path.stat().st_mtime_ns for name, path in files.items()}
    again = pp.ensure_models(("Q4_K", "Q6_K", "Q4_1"), threads=2)  # reused, not written again
    assert {name: path.stat().st_mtime_ns for name, path in again.items()} == stamps
    measured = pp.time_types(files, threads=2, max_rounds=pp.MIN_ROUNDS)
    assert set(measured) == set(files)
    assert all(5 < g < 50_000 for g in measured.values()), measured  # GFLOP/s of a real CPU


def test_attention_probe_measures_a_cost_per_score() -> None:
    from app.core.documents.local_embedder import _quiet_llama

    _quiet_llama()
    path = pp.ensure_attention_model()
    facts = read_model_facts(path)
    assert facts.feed_forward_length == pp.ATTENTION_SHAPE.ff and facts.key_length == 64
    ns = pp.time_attention(path, threads=2, f16_gflops=100.0, rounds=2)
    assert 0 <= ns < 1000, ns
    # The cache window a batch scores against is padded to 256 cells.
    assert pp.score_elements(pp.ATTENTION_SHAPE, 512, 1536) == 16 * 512 * 2048
    assert pp.score_elements(pp.ATTENTION_SHAPE, 100, 0) == 16 * 100 * 256


# --- the table in the profile -------------------------------------------------------------------


def test_per_type_table_round_trips_through_the_cache_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cache.PROFILE_ENV, raising=False)
    measured = with_table({"Q4_K": 171.5, "Q6_K": 203.3, "Q4_1": 70.3, "F16": 125.9}, attention_ns=3.1)
    path = tmp_path / "speed.json"
    cache.save_profile(measured, path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["version"] == cache.BENCH_VERSION == 4
    assert raw["cpu"]["prompt_gflops"] == {"Q4_K": 171.5, "Q6_K": 203.3, "Q4_1": 70.3, "F16": 125.9}
    loaded = cache.load_profile(path=path)
    assert loaded == measured and loaded is not None
    assert loaded.cpu.gflops_for("Q4_1") == 70.3 and loaded.cpu.attention_ns == 3.1
    assert loaded.cpu.gflops_for("Q3_K") == 171.5  # borrows Q4_K's figure
    assert loaded.cpu.gflops_for("Q8_0") == loaded.cpu.matmul_gflops  # not measured: the one figure
    # A cache file of the benchmark before per-type figures is measured again...
    old = {
        **raw,
        "version": 2,
        "cpu": {k: v for k, v in raw["cpu"].items() if k not in ("prompt_gflops", "attention_ns")},
    }
    path.write_text(json.dumps(old), encoding="utf-8")
    assert cache.load_profile(path=path) is None
    # ...but still reads, and a pinned one is used as is (one matrix figure for every type).
    monkeypatch.setenv(cache.PROFILE_ENV, str(path))
    pinned = cache.load_profile()
    assert pinned is not None and pinned.cpu.prompt_gflops == () and pinned.cpu.gflops_for("Q4_1") == 100.0


# --- the prediction -----------------------------------------------------------------------------


def test_a_mixed_type_file_reads_each_type_at_its_own_speed(chat_model_path: Path) -> None:
    facts = read_model_facts(chat_model_path)
    # Gemma 3 270M Q4_K_M is 640 wide: most of its Q4_K tensors were stored as Q5_0.
    types = dict(facts.matrix_params)
    assert set(types) == {"Q5_0", "Q4_K", "Q6_K", "Q8_0"} and max(types, key=types.__getitem__) == "Q5_0"
    speed = facts_from_gguf(facts)
    table = {"Q4_K": 200.0, "Q6_K": 250.0, "Q8_0": 150.0, "Q5_0": 120.0, "F16": 130.0}
    n = DOC_PROMPT_TOKENS
    decode_s = 1 / predict(speed, with_table(table)).decode_tokens_per_s

    def prompt_s(figures: dict[str, float], attention_ns: float = 0.0) -> float:
        return predict(speed, with_table(figures, attention_ns)).first_word_s - decode_s

    # By hand: each type's parameters at its figure, attention's multiply-adds at F16's.
    window = speed.swa_fraction
    attended = (1 - window) * attended_positions(n, None) + window * attended_positions(n, speed.window)
    attention = 4 * speed.n_layers * speed.attn_width * attended
    by_hand = sum(2 * p * n / (table[t] * 1e9) for t, p in types.items()) + attention / 130e9
    assert prompt_s(table) == pytest.approx(by_hand, rel=1e-9)
    # Halving Q5_0's figure adds exactly Q5_0's share: one figure for every type would not.
    slower = prompt_s({**table, "Q5_0": 60.0}) - prompt_s(table)
    assert slower == pytest.approx(2 * types["Q5_0"] * n / 120e9, rel=1e-9)
    assert prompt_s({**table, "Q4_1": 1.0}) == pytest.approx(prompt_s(table))  # a type it does not hold
    # The cost per attention score comes on top: scores = attention flops / (4 x head length).
    extra = prompt_s(table, attention_ns=2.0) - prompt_s(table)
    assert extra == pytest.approx(attention / (4 * facts.key_length) * 2e-9, rel=1e-9)
    # A profile without per-type figures (older, or a GPU's) still predicts, with its one figure.
    assert predict_facts(facts, SLOW).first_word_s > 0


def test_before_download_the_quantization_name_gives_the_types() -> None:
    size = 4 * 1024**3
    table = {"Q4_K": 200.0, "Q6_K": 100.0, "F16": 100.0}
    base = predict_size(size, 4.89, with_table(table), quant="Q4_K_M")
    slower_q6 = predict_size(size, 4.89, with_table({**table, "Q6_K": 50.0}), quant="Q4_K_M")
    slower_q4 = predict_size(size, 4.89, with_table({**table, "Q4_K": 100.0}), quant="Q4_K_M")
    # Q4_K_M is mostly Q4_K with some Q6_K: both matter, Q4_K far more.
    assert base.first_word_s < slower_q6.first_word_s < slower_q4.first_word_s
    assert not base.exact
    plain = predict_size(size, 4.89, with_table(table))  # no name: the one matrix figure (100)
    assert plain.first_word_s > base.first_word_s


def test_every_type_maps_to_a_measured_one_and_names_split_into_types() -> None:
    assert set(NEAREST.values()) <= set(MEASURED)
    assert not set(NEAREST) & set(MEASURED)
    for name in ("Q2_K", "Q3_K", "IQ4_XS", "IQ2_XXS", "Q5_1", "BF16", "IQ4_NL", "MXFP4"):
        assert measured_type(name) in MEASURED, name
    assert measured_type("q6_k") == "Q6_K"
    assert mix_of("Q4_K_M") == (("Q4_K", 0.85), ("Q6_K", 0.15))
    assert mix_of("Q6_K_L") == (("Q6_K", 1.0),) and mix_of("Q8_0") == (("Q8_0", 1.0),)
    for mix in MIXES.values():
        assert sum(share for _t, share in mix) == pytest.approx(1.0)


def test_attention_is_counted_as_llama_cpp_computes_it() -> None:
    # Batches of 512 score against the whole (padded) cache window, masked positions included.
    assert attended_positions(512, None) == 512 * 512
    assert attended_positions(2000, None) == 512 * (512 + 1024 + 1536) + 464 * 2048
    # A sliding-window layer's cache holds window + batch cells.
    assert attended_positions(2000, 512) == 512 * 512 + 2 * 512 * 1024 + 464 * 1024
    assert attended_positions(100, 512) == attended_positions(100, None) == 100 * 256


# --- writing: one-token speed per type ------------------------------------------------------------


def test_decode_probe_times_every_type_and_the_fixed_costs() -> None:
    from app.core.documents.local_embedder import _quiet_llama

    _quiet_llama()
    files = pp.ensure_models(("Q8_0", "Q4_1"), threads=2)
    overhead = pp.ensure_overhead_models()
    assert [read_model_facts(p).block_count for p in overhead] == list(pp.OVERHEAD_LAYERS)
    timing = pp.time_decode(files, overhead, threads=2, max_rounds=pp.MIN_DECODE_ROUNDS)
    assert [name for name, _g in timing.gb_per_s] == ["Q8_0", "Q4_1"]
    assert all(0.5 < g < 5_000 for _n, g in timing.gb_per_s), timing
    assert 0 < timing.token_ms < 5 and 0 < timing.layer_ms < 5, timing
    # What a token reads in a probe file: its layer's matrices and the tied output (256 rows).
    q8 = read_model_facts(files["Q8_0"])
    norms = 2 * 4 * pp.N_EMBD  # two F32 norm vectors in the layer: not matrices
    assert pp.bytes_read_per_token(files["Q8_0"]) == sum(q8.layer_bytes) - norms + q8.token_embd_bytes


def test_writing_reads_each_type_at_its_own_one_token_speed(chat_model_path: Path) -> None:
    from app.core.speed import predict as pr

    facts = read_model_facts(chat_model_path)
    # Gemma 3 270M ties its output to token_embd (Q8_0, 262k rows): most of what a token reads.
    read = dict(facts.decode_bytes_by_type)
    assert max(read, key=read.__getitem__) == "Q8_0" and read["Q8_0"] > facts.token_embd_bytes
    speed = facts_from_gguf(facts)
    base = with_table({"Q4_K": 200.0})
    rates = {"Q8_0": 20.0, "Q5_0": 12.0, "Q4_K": 18.0, "Q6_K": 19.0}
    cpu_speed = mb.DeviceSpeed(
        **{**base.cpu.__dict__, "decode_gb_per_s": tuple(rates.items()), "token_overhead_ms": 0.05,
           "layer_overhead_ms": 0.04}
    )  # fmt: skip
    decode_s = 1 / predict(speed, profile(cpu_speed)).decode_tokens_per_s
    bw = cpu_speed.read_gb_per_s(speed.decode_bytes)
    by_hand = (
        0.05e-3 + speed.n_layers * 0.04e-3
        + sum(n / (rates[t] * 1e9) for t, n in read.items())
        + pr.MEMORY_STALL_SHARE * speed.decode_bytes / (bw * 1e9)
        + speed.vocab * pr.LOGIT_NS * 1e-9
    )  # fmt: skip
    assert decode_s == pytest.approx(by_hand, rel=1e-9)
    # Slower Q8_0 kernels slow it by exactly Q8_0's bytes; a type it does not hold changes nothing.
    slower_rates = tuple({**rates, "Q8_0": 10.0}.items())
    slower = mb.DeviceSpeed(**{**cpu_speed.__dict__, "decode_gb_per_s": slower_rates})
    extra = 1 / predict(speed, profile(slower)).decode_tokens_per_s - decode_s
    assert extra == pytest.approx(read["Q8_0"] / 20e9, rel=1e-9)
    # Never faster than memory allows: with kernels far faster than memory, memory sets the pace.
    fast = mb.DeviceSpeed(**{**cpu_speed.__dict__, "decode_gb_per_s": (("Q8_0", 1e6),)})
    floor = speed.decode_bytes / (bw * pr.CPU_BANDWIDTH_EFFICIENCY * 1e9)
    assert 1 / predict(speed, profile(fast)).decode_tokens_per_s >= floor
