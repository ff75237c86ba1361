"""Offload planner on synthetic models and machines."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from app.core.gguf_facts import ModelFacts
from app.core.hardware import GpuInfo, HardwareInfo
from app.core.model_memory import estimate_for_layers, kv_bytes, kv_cells, layer_kv_bytes
from app.core.planner import (
    GIB,
    MIB,
    OffloadPlan,
    _budget,
    gpu_reserve,
    plan_from_file_size,
    plan_offload,
)


def make_facts(
    n_layer: int = 32,
    layer_mib: float = 200,
    *,
    heads: int | tuple[int, ...] = 32,
    kv_heads: int | tuple[int, ...] = 8,
    head_dim: int = 128,
    ctx: int = 32768,
    vocab: int = 32000,
    embd_mib: float = 250,
    tied: bool = False,
    window: int | None = None,
    swa: tuple[bool, ...] | None = None,
) -> ModelFacts:
    per_layer = lambda v: v if isinstance(v, tuple) else (v,) * n_layer  # noqa: E731
    layer_bytes = (int(layer_mib * MIB),) * n_layer
    embd = int(embd_mib * MIB)
    output = 0 if tied else embd
    return ModelFacts(
        path=Path("synthetic.gguf"),
        file_size=sum(layer_bytes) + embd + output + 4 * MIB,
        architecture="llama",
        name="synthetic",
        size_label=None,
        quantization="Q4_K_M",
        context_length=ctx,
        block_count=n_layer,
        layer_bytes=layer_bytes,
        output_bytes=output,
        token_embd_bytes=embd,
        other_bytes=0,
        head_count=per_layer(heads),
        head_count_kv=per_layer(kv_heads),
        embedding_length=4096,
        key_length=head_dim,
        value_length=head_dim,
        sliding_window=window,
        swa_layers=swa or (False,) * n_layer,
        has_chat_template=True,
        chat_template="{{ messages }}",
        is_embedding_model=False,
        tied_embeddings=tied,
        vocab_size=vocab,
        feed_forward_length=14336,
        tensor_bytes=sum(layer_bytes) + embd + output,
    )


def make_hw(
    ram_gib: float = 32, vram_gib: float | None = None, free_gib: float | None = None
) -> HardwareInfo:
    gpus: tuple[GpuInfo, ...] = ()
    if vram_gib is not None:
        free = free_gib if free_gib is not None else vram_gib
        gpus = (GpuInfo(0, "Test GPU", int(vram_gib * GIB), int(free * GIB), "550", "cuda"),)
    ram = int(ram_gib * GIB)
    return HardwareInfo(ram, ram, 8, 16, "Test CPU", "Test OS", gpus, False, ())


def assert_within_budget(plan: OffloadPlan, hw: HardwareInfo) -> None:
    budget = _budget(hw, None)
    assert plan.gpu_bytes <= budget.gpu_bytes or plan.gpu_bytes == 0
    assert plan.ram_bytes <= budget.ram_bytes
    gpu = hw.best_gpu()
    if gpu is not None:
        assert plan.gpu_bytes <= gpu.free_bytes - gpu_reserve(gpu) or plan.gpu_bytes == 0


# --- verdicts ---------------------------------------------------------------------------------


def test_no_gpu_runs_on_cpu() -> None:
    plan = plan_offload(make_facts(), make_hw(32))
    assert plan.verdict == "cpu" and plan.fits
    assert plan.n_gpu_layers == 0 and plan.gpu_index is None
    assert plan.gpu_bytes == 0
    assert plan.n_ctx == 8192
    assert "CPU" in plan.summary
    assert plan.total_layers == 33


def test_large_gpu_runs_fully_on_gpu() -> None:
    facts = make_facts()
    plan = plan_offload(facts, make_hw(32, vram_gib=24))
    assert plan.verdict == "gpu_full" and plan.fits
    assert plan.n_gpu_layers == 33 and plan.gpu_index == 0
    assert plan.summary == "Runs fully on your GPU"
    assert plan.gpu_weights_bytes == sum(facts.layer_bytes) + facts.output_bytes
    assert plan.ram_weights_bytes == facts.token_embd_bytes  # the input layer stays on the CPU
    assert plan.ram_kv_bytes == 0 and plan.gpu_kv_bytes == kv_bytes(facts, plan.n_ctx)


def test_small_gpu_partial_offload_is_optimal() -> None:
    facts = make_facts()
    hw = make_hw(32, vram_gib=4)
    plan = plan_offload(facts, hw, 8192)
    assert plan.verdict == "gpu_partial" and plan.fits
    assert 1 < plan.n_gpu_layers < 33
    assert f"{plan.n_gpu_layers - 1} of 32 layers on your GPU" in plan.summary
    assert_within_budget(plan, hw)
    budget = _budget(hw, None)
    # Not one layer more would fit: no waste beyond a layer.
    assert estimate_for_layers(facts, plan.n_ctx, plan.n_gpu_layers + 1).gpu > budget.gpu_bytes


def test_gpu_too_small_for_anything_falls_back_to_cpu() -> None:
    plan = plan_offload(make_facts(vocab=256000), make_hw(32, vram_gib=1.0))
    assert plan.verdict == "cpu" and plan.n_gpu_layers == 0 and plan.gpu_index is None
    assert "GPU" in plan.summary


def test_too_large_for_the_machine() -> None:
    facts = make_facts(n_layer=80, layer_mib=500)  # ~40 GB
    plan = plan_offload(facts, make_hw(8, vram_gib=4))
    assert plan.verdict == "too_large" and not plan.fits
    assert plan.summary.startswith("Needs ") and "this computer has" in plan.summary


def test_max_gpu_layers_caps_offload() -> None:
    facts = make_facts()
    plan = plan_offload(facts, make_hw(32, vram_gib=24), max_gpu_layers=10)
    assert plan.n_gpu_layers == 10 and plan.verdict == "gpu_partial"
    assert plan_offload(facts, make_hw(32, vram_gib=24), max_gpu_layers=0).verdict == "cpu"


def test_gpu_reserve_override_and_default() -> None:
    gpu = GpuInfo(0, "g", 24 * GIB, 20 * GIB, "", "cuda")
    assert gpu_reserve(gpu) == int(24 * GIB * 0.05)
    assert gpu_reserve(dataclasses.replace(gpu, total_bytes=4 * GIB)) == 512 * MIB
    facts = make_facts()
    hw = make_hw(32, vram_gib=8)
    tight = plan_offload(facts, hw, 8192, gpu_reserve_bytes=4 * GIB)
    loose = plan_offload(facts, hw, 8192, gpu_reserve_bytes=0)
    assert tight.n_gpu_layers < loose.n_gpu_layers
    assert tight.gpu_bytes <= 4 * GIB


# --- output layer order and tied embeddings ---------------------------------------------------


def test_first_offloaded_layer_is_the_output_layer() -> None:
    facts = make_facts()
    one = estimate_for_layers(facts, 4096, 1)
    assert one.gpu_weights == facts.output_bytes
    two = estimate_for_layers(facts, 4096, 2)
    assert two.gpu_weights == facts.output_bytes + facts.layer_bytes[-1]
    assert two.gpu_kv == layer_kv_bytes(facts, 31, 4096)


def test_tied_embeddings_copy_the_embedding_to_the_gpu() -> None:
    facts = make_facts(tied=True)
    full = estimate_for_layers(facts, 4096, 33)
    assert full.gpu_weights == sum(facts.layer_bytes) + facts.token_embd_bytes
    assert full.ram_weights == facts.token_embd_bytes  # the input copy stays


# --- KV cache ---------------------------------------------------------------------------------


def test_kv_bytes_formula() -> None:
    facts = make_facts(n_layer=32, kv_heads=8, head_dim=128)
    # Llama-3-8B: 32 layers x 8 KV heads x 128 x (K+V) x f16 = 128 KiB per token.
    assert kv_bytes(facts, 8192) == 8192 * 32 * 8 * 128 * 2 * 2
    assert kv_bytes(facts, 1000) == kv_bytes(facts, 1024)  # padded to 256 cells


def test_per_layer_head_counts() -> None:
    kv = (8, 0, 4, 2)
    facts = make_facts(n_layer=4, heads=(32, 0, 16, 8), kv_heads=kv, head_dim=64)
    assert kv_bytes(facts, 2048) == 2048 * sum(kv) * 64 * 2 * 2
    assert layer_kv_bytes(facts, 1, 2048) == 0  # a recurrent layer keeps no KV cache


def test_sliding_window_layers_keep_a_small_cache() -> None:
    swa = tuple(il % 6 != 5 for il in range(12))
    facts = make_facts(n_layer=12, window=1024, swa=swa, kv_heads=4, head_dim=256)
    assert kv_cells(facts, 0, 32768) == 1024 + 512  # window + ubatch, padded to 256
    assert kv_cells(facts, 5, 32768) == 32768
    assert kv_cells(facts, 0, 1024) == 1024  # never more than the context
    assert kv_cells(facts, 0, 32768, swa_full=True) == 32768
    per_cell = 4 * 256 * 2 * 2
    assert kv_bytes(facts, 32768) == (10 * 1536 + 2 * 32768) * per_cell


# --- context ----------------------------------------------------------------------------------


def test_default_context_is_8192_or_model_max() -> None:
    assert plan_offload(make_facts(ctx=32768), make_hw(64)).n_ctx == 8192
    assert plan_offload(make_facts(ctx=4096), make_hw(64)).n_ctx == 4096


def test_wanted_context_raises_and_is_capped() -> None:
    hw = make_hw(128)
    assert plan_offload(make_facts(ctx=32768), hw, 16384).n_ctx == 16384
    capped = plan_offload(make_facts(ctx=32768), hw, 131072)
    assert capped.n_ctx == 32768
    assert any("capped" in reason for reason in capped.reasons)


def test_context_lowered_when_memory_is_tight() -> None:
    # No GQA: 512 KiB of KV per token, so a large context costs gigabytes.
    facts = make_facts(n_layer=32, layer_mib=100, kv_heads=32, vocab=32000)
    hw = make_hw(7.5)
    plan = plan_offload(facts, hw, 16384)
    assert plan.fits and plan.n_ctx < 16384 and plan.n_ctx >= 2048
    assert any("lowered" in reason for reason in plan.reasons)
    assert_within_budget(plan, hw)


def test_lower_context_preferred_to_fit_fully_on_gpu() -> None:
    facts = make_facts(n_layer=32, layer_mib=100, kv_heads=32)
    full_at_2048 = estimate_for_layers(facts, 2048, 33).gpu
    full_at_8192 = estimate_for_layers(facts, 8192, 33).gpu
    free = (full_at_2048 + full_at_8192) / 2 + 512 * MIB
    plan = plan_offload(facts, make_hw(64, vram_gib=free / GIB + 1, free_gib=free / GIB))
    # A compact (q8_0) KV cache keeps the longer context on the GPU, and the plan says so.
    assert plan.verdict == "gpu_full" and plan.n_ctx == 8192 and plan.kv_type == "q8_0"
    assert any("compact 8-bit" in reason for reason in plan.reasons)
    # Too little even for that: a shorter context, all on the GPU, the normal cache.
    compact_at_8192 = estimate_for_layers(facts, 8192, 33, "q8_0").gpu
    free = compact_at_8192 - 64 * MIB + 512 * MIB  # just short of it (beside the 512 MiB reserve)
    plan = plan_offload(facts, make_hw(64, vram_gib=free / GIB + 1, free_gib=free / GIB))
    assert plan.verdict == "gpu_full" and plan.n_ctx < 8192


def test_compact_kv_cache_only_when_the_normal_one_does_not_fit() -> None:
    facts = make_facts(n_layer=32, layer_mib=100, kv_heads=32)
    plan = plan_offload(facts, make_hw(64, vram_gib=80, free_gib=80))
    assert plan.kv_type == "f16" and plan.verdict == "gpu_full"


# --- the two promises: never over budget, never more than a layer short ------------------------


def test_random_machines_never_over_budget_and_never_wasteful() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        n_layer = rng.choice([12, 24, 32, 40, 80])
        facts = make_facts(
            n_layer=n_layer,
            layer_mib=rng.uniform(20, 900),
            kv_heads=rng.choice([1, 4, 8, 32]),
            head_dim=rng.choice([64, 128, 256]),
            vocab=rng.choice([32000, 128256, 262144]),
            embd_mib=rng.uniform(50, 1500),
            tied=rng.random() < 0.3,
            ctx=rng.choice([4096, 32768, 131072]),
        )
        vram = rng.choice([None, 2, 4, 6, 8, 12, 16, 24, 48, 80])
        hw = make_hw(rng.choice([4, 8, 16, 32, 64]), vram, vram and vram * rng.uniform(0.3, 1))
        wanted = rng.choice([None, 2048, 8192, 32768])
        plan = plan_offload(facts, hw, wanted)
        if not plan.fits:
            assert plan.verdict == "too_large"
            continue
        assert_within_budget(plan, hw)
        budget = _budget(hw, None)
        if hw.gpus and plan.n_gpu_layers < n_layer + 1:
            more = estimate_for_layers(facts, plan.n_ctx, plan.n_gpu_layers + 1)
            assert not budget.fits(more)


def test_unified_memory_counts_gpu_and_ram_once() -> None:
    facts = make_facts(n_layer=32, layer_mib=200)
    ram = 16 * GIB
    metal = GpuInfo(0, "Apple M2", int(ram * 2 / 3), int(ram * 2 / 3), "macOS 14", "metal")
    hw = HardwareInfo(ram, ram, 8, 8, "Apple M2", "macOS", (metal,), True, ())
    plan = plan_offload(facts, hw)
    assert plan.fits
    assert plan.gpu_bytes + plan.ram_bytes <= _budget(hw, None).ram_bytes


# --- remote files -----------------------------------------------------------------------------


def test_plan_from_file_size() -> None:
    small = plan_from_file_size(2 * GIB, make_hw(16, vram_gib=12))
    assert small.verdict == "gpu_full"
    assert any("file size" in reason for reason in small.reasons)
    partial = plan_from_file_size(20 * GIB, make_hw(64, vram_gib=8))
    assert partial.verdict == "gpu_partial"
    assert plan_from_file_size(70 * GIB, make_hw(16)).verdict == "too_large"
    assert plan_from_file_size(4 * GIB, make_hw(16)).verdict == "cpu"


@pytest.mark.parametrize("verdict_plan", ["cpu", "gpu_full"])
def test_reasons_are_sentences(verdict_plan: str) -> None:
    hw = make_hw(32, vram_gib=24) if verdict_plan == "gpu_full" else make_hw(32)
    plan = plan_offload(make_facts(), hw)
    assert plan.verdict == verdict_plan
    assert plan.reasons and all(reason.strip() for reason in plan.reasons)
