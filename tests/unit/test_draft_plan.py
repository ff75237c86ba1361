"""Where a draft model goes beside the chat model's plan (app/core/draft_plan.py), and the
loader's plain words when it does not fit, on synthetic models and machines."""

from __future__ import annotations

from app.core.draft_plan import place_draft
from app.core.model_memory import estimate_for_layers
from app.core.planner import GIB, plan_offload
from tests.unit.test_planner import make_facts, make_hw

CHAT = make_facts(n_layer=32, layer_mib=200)  # ~6.9 GB of weights
DRAFT = make_facts(n_layer=24, layer_mib=20, embd_mib=60)  # ~0.6 GB


def test_beside_a_chat_model_wholly_on_the_gpu_the_draft_goes_there_too() -> None:
    plan = plan_offload(CHAT, make_hw(ram_gib=32, vram_gib=24), 4096)
    assert plan.verdict == "gpu_full"
    placed = place_draft(plan, DRAFT)
    assert placed.fits and placed.n_gpu_layers == DRAFT.block_count + 1
    assert placed.needed_bytes == estimate_for_layers(DRAFT, 4096, DRAFT.block_count + 1).gpu
    assert placed.room_bytes == plan.gpu_budget_bytes - plan.gpu_bytes


def test_a_draft_that_would_cost_the_chat_model_gpu_memory_does_not_fit() -> None:
    # The chat model at 4096 needs ~7.5 GB on the GPU; 8.6 GB free (less the reserve) leaves
    # less than the draft's ~0.9 GB with its KV cache.
    plan = plan_offload(CHAT, make_hw(ram_gib=32, vram_gib=9, free_gib=8.6), 4096)
    assert plan.verdict == "gpu_full"
    placed = place_draft(plan, DRAFT)
    assert not placed.fits and placed.needed_bytes > placed.room_bytes >= 0


def test_beside_a_chat_model_partly_on_the_gpu_or_on_the_cpu_the_draft_stays_in_ram() -> None:
    partial = plan_offload(CHAT, make_hw(ram_gib=32, vram_gib=4), 4096)
    assert partial.verdict == "gpu_partial"
    placed = place_draft(partial, DRAFT)
    assert placed.fits and placed.n_gpu_layers == 0
    assert placed.needed_bytes == estimate_for_layers(DRAFT, 4096, 0).ram
    cpu = plan_offload(CHAT, make_hw(ram_gib=32), 4096)
    assert cpu.verdict == "cpu" and place_draft(cpu, DRAFT).fits


def test_no_room_left_in_ram_means_no_draft() -> None:
    # Just enough RAM for the chat model (its plan plus the 1 GiB the planner keeps free).
    needed = plan_offload(CHAT, make_hw(ram_gib=64), 4096).ram_bytes
    tight = plan_offload(CHAT, make_hw(ram_gib=(needed + 1.2 * GIB) / GIB), 4096)
    assert tight.fits and tight.verdict == "cpu"
    assert not place_draft(tight, DRAFT).fits


def test_with_unified_memory_both_models_come_out_of_one_pool() -> None:
    plan = plan_offload(CHAT, make_hw(ram_gib=32, vram_gib=24), 4096)
    placed = place_draft(plan, DRAFT, unified_memory=True)
    assert placed.room_bytes == plan.ram_budget_bytes - plan.ram_bytes - plan.gpu_bytes
