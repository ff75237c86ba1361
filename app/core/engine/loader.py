"""Load a model the way a user expects: plan it for this machine, load it with progress, and if
the GPU runs out of memory anyway (another program took VRAM, the estimate was off), retry once
automatically with fewer GPU layers and say so in plain words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.core.engine import protocol as p
from app.core.engine.client import EngineClient, EngineCrashed, EngineError
from app.core.engine.crash_cause import CAUSE_OUT_OF_MEMORY
from app.core.gguf_facts import ModelFacts, read_model_facts
from app.core.hardware import HardwareInfo, detect_hardware
from app.core.i18n import number, translate
from app.core.planner import OffloadPlan, plan_offload

log = logging.getLogger("enclave.engine.loader")

# After a GPU out-of-memory failure, offload this fraction of the layers that failed.
RETRY_LAYER_FRACTION = 0.75


class ModelNotAllowed(EngineError):
    """The organisation's policy (allowed_models) does not allow this model: nothing is read."""

    def __init__(self, sentence: str) -> None:
        super().__init__(p.ERROR_NOT_ALLOWED, sentence)


def check_allowed(model_path: Path | str) -> None:
    """Raise ModelNotAllowed when the policy refuses this file (every load goes through here)."""
    from app.core.policy_rules import model_refusal

    refusal = model_refusal(model_path)
    if refusal:
        raise ModelNotAllowed(refusal)


class ModelDoesNotFit(EngineError):
    def __init__(self, plan: OffloadPlan) -> None:
        summary = plan.summary.rstrip()
        # The summary is also a fragment of longer lines ("On this computer: ..."); alone it
        # is a sentence.
        super().__init__("does_not_fit", summary if summary.endswith((".", "!", "?")) else summary + ".")
        self.plan = plan


@dataclass(frozen=True)
class LoadOutcome:
    loaded: p.Loaded
    facts: ModelFacts
    plan: OffloadPlan  # the plan that actually loaded
    notice: str | None  # set when we had to fall back; show it to the user


def _is_memory_failure(exc: EngineError) -> bool:
    # A CUDA OOM often aborts the process outright (EngineCrashed, with the allocator's line in
    # the log); sometimes llama.cpp reports a failed allocation and returns an error instead.
    # Any other crash (an assert, a bad file) is not retried: fewer layers would not help.
    if isinstance(exc, EngineCrashed):
        return exc.cause is not None and exc.cause.kind == CAUSE_OUT_OF_MEMORY
    return exc.kind == p.ERROR_OUT_OF_MEMORY


def load_model(
    client: EngineClient,
    model_path: Path | str,
    *,
    wanted_ctx: int | None = None,
    n_threads: int = 0,
    chat_format: str | None = None,
    hardware: HardwareInfo | None = None,
    facts: ModelFacts | None = None,
    on_progress: Callable[[float], None] | None = None,
    gpu_choice: int | None = None,
    draft_model: Path | str | None = None,
) -> LoadOutcome:
    """Plan and load; raises ModelNotAllowed (policy), GGUFError (bad file), ModelDoesNotFit,
    EngineError/EngineCrashed. gpu_choice: a pinned GPU (default: the one Settings names)."""
    check_allowed(model_path)
    if draft_model is not None:
        check_allowed(draft_model)  # the organisation's rules hold for a draft model too
    facts = facts or read_model_facts(Path(model_path))
    if not facts.has_kv_cache:  # an encoder (the documents' embedder): llama.cpp cannot generate
        raise EngineError(
            p.ERROR_LOAD_FAILED,
            translate(
                "loader",
                "The model {model} is an embedding model: it turns text into numbers "
                "for document search and cannot write answers. Choose a chat model.",
            ).format(model=Path(model_path).name),
        )
    hardware = hardware or detect_hardware()
    if gpu_choice is None:
        from app.core.settings import load_settings

        gpu_choice = load_settings().pinned_gpu()
    plan = plan_offload(facts, hardware, wanted_ctx, gpu_choice=gpu_choice)
    if not plan.fits:
        raise ModelDoesNotFit(plan)

    draft_notice = ""  # why a draft model asked for is not used, in plain words

    def request_for(chosen: OffloadPlan) -> p.LoadRequest:
        nonlocal draft_notice
        draft_path, draft_layers, draft_notice = _placed_draft(chosen, draft_model, hardware)
        return p.LoadRequest(
            model_path=str(model_path),
            n_gpu_layers=chosen.n_gpu_layers,
            n_ctx=chosen.n_ctx,
            n_batch=chosen.n_batch,
            n_ubatch=chosen.n_ubatch,
            swa_full=chosen.swa_full,
            kv_type=chosen.kv_type,
            n_threads=n_threads,
            chat_format=chat_format,
            main_gpu=chosen.gpu_index or 0,
            tensor_split=chosen.tensor_split,
            draft_model_path=draft_path,
            draft_gpu_layers=draft_layers,
        )

    try:
        loaded = client.load(request_for(plan), on_progress)
        return LoadOutcome(loaded, facts, plan, _joined(loaded.notice, draft_notice))
    except EngineError as exc:
        if plan.n_gpu_layers == 0 or not _is_memory_failure(exc):
            raise
        log.warning("GPU load with %d layers failed (%s); retrying with fewer", plan.n_gpu_layers, exc.kind)
    # Free VRAM may have changed since we planned: measure again, and cap the layers.
    fewer = max(0, int(plan.n_gpu_layers * RETRY_LAYER_FRACTION))
    retry_plan = plan_offload(
        facts, detect_hardware(), wanted_ctx, max_gpu_layers=fewer, gpu_choice=gpu_choice
    )
    if not retry_plan.fits:
        raise ModelDoesNotFit(retry_plan)
    loaded = client.load(request_for(retry_plan), on_progress)
    notice = translate(
        "loader",
        "Your GPU ran out of memory with {tried} layers, so Enclave loaded the model "
        "with {loaded} layers on the GPU instead. It works, a little slower.",
    ).format(tried=number(plan.n_gpu_layers), loaded=number(retry_plan.n_gpu_layers))
    return LoadOutcome(loaded, facts, retry_plan, _joined(notice, loaded.notice, draft_notice))


def _joined(*notices: str | None) -> str | None:
    return " ".join(n for n in notices if n) or None


def _placed_draft(
    plan: OffloadPlan, draft_model: Path | str | None, hardware: HardwareInfo
) -> tuple[str, int, str]:
    """(path, GPU layers, "") for a draft model that fits beside the chat model's plan, or
    ("", 0, why not in plain words): a draft never costs the chat model memory it planned."""
    if draft_model is None:
        return "", 0, ""
    from app.core.draft_plan import place_draft
    from app.core.gguf_facts import GGUFError

    name = Path(draft_model).name
    try:
        draft_facts = read_model_facts(Path(draft_model))
    except GGUFError as exc:
        log.warning("draft model %s unreadable: %s", name, exc)
        return "", 0, translate(
            "loader", "The draft model {name} could not be read, so answers come without it."
        ).format(name=name)
    gpu = next((g for g in hardware.gpus if g.index == plan.gpu_index), None)
    unified = hardware.unified_memory or (gpu is not None and gpu.integrated)
    placement = place_draft(plan, draft_facts, unified)
    if not placement.fits:
        log.info("draft model %s needs %d bytes, %d left", name, placement.needed_bytes, placement.room_bytes)
        return "", 0, translate(
            "loader",
            "The draft model {name} does not fit in the memory left beside this model, so answers "
            "come without it.",
        ).format(name=name)
    return str(draft_model), placement.n_gpu_layers, ""
