"""Where a draft model (engine/draft_model.py) goes beside the chat model the planner placed,
and whether it fits at all: a draft must never cost the chat model a GPU layer, nor push the
computer out of memory (the crash users of other apps meet most).

A draft helps only when it runs where the chat model runs: all of it on the GPU when the chat
model is wholly on one GPU, in RAM otherwise. It needs its weights, a KV cache for the same
context, and its compute buffers (model_memory.py, as for any model), inside what the chat
model's plan left of the same budgets."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.gguf_facts import ModelFacts
from app.core.model_memory import estimate_for_layers
from app.core.planner import OffloadPlan


@dataclass(frozen=True)
class DraftPlacement:
    fits: bool
    n_gpu_layers: int  # llama.cpp's: all of the draft's layers, or 0
    needed_bytes: int  # what the draft needs where it goes
    room_bytes: int  # what the chat model's plan left there


def place_draft(plan: OffloadPlan, draft: ModelFacts, unified_memory: bool = False) -> DraftPlacement:
    """The draft's place beside `plan` (a plan that fits); unified_memory: GPU buffers come
    out of RAM (Apple silicon, an integrated GPU), so one pool holds both models."""
    on_gpu = plan.verdict == "gpu_full" and plan.gpu_count == 1
    layers = draft.block_count + 1 if on_gpu else 0
    usage = estimate_for_layers(draft, plan.n_ctx, layers)
    ram_room = plan.ram_budget_bytes - plan.ram_bytes
    if unified_memory and on_gpu:
        room = ram_room - plan.gpu_bytes
        return DraftPlacement(usage.gpu + usage.ram <= room, layers, usage.gpu + usage.ram, room)
    if on_gpu:
        gpu_room = plan.gpu_budget_bytes - plan.gpu_bytes
        fits = usage.gpu <= gpu_room and usage.ram <= ram_room
        return DraftPlacement(fits, layers, usage.gpu, gpu_room)
    return DraftPlacement(usage.ram <= ram_room, 0, usage.ram, ram_room)
