"""Decide how to load a model on this machine: how many layers on the GPU, which context size.

The numbers follow what llama.cpp (the version bundled with llama-cpp-python) allocates, so
that a plan that "fits" really loads:

* Weights: each `blk.N.` layer's tensor bytes. `n_gpu_layers = k` puts the *output* layer
  on the GPU first and then the last k-1 repeating layers (llama-model.cpp: i_gpu_start =
  n_layer + 1 - k, layer n_layer being the output). The input embedding always stays on the
  CPU; a model with tied embeddings gets a copy of it as its output matrix on the GPU.
* KV cache: f16 K and V, per layer `cells x (n_head_kv x key_length + n_head_kv x
  value_length) x 2 bytes`, living with its layer (offload_kqv). When the wanted context does
  not fit that way, the plan stores K and V as q8_0 (34 bytes per 32 values, 0.53 of f16:
  measured equal to llama.cpp's KV buffer) with flash attention, which llama.cpp needs for a
  quantized V cache and which also drops the attention scores from the compute buffer. The
  context is padded to 256 cells; sliding-window layers keep only GGML_PAD(window + n_ubatch,
  256) cells when the engine loads with `swa_full=False` (which the plan asks for).
* Compute buffer: the biggest intermediate of one micro-batch, which is either attention
  (KQ scores, unless flash attention) or the output logits (n_vocab x n_ubatch floats).

The sizes themselves are computed in model_memory.py. The GPU keeps a reserve (see
`gpu_reserve`), RAM too (`ram_reserve`). tests/unit/
test_planner_accuracy.py loads real models with llama.cpp and compares its printed buffer sizes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from app.core.gguf_facts import ModelFacts
from app.core.hardware import GpuInfo, HardwareInfo
from app.core.i18n import number, translate
from app.core.model_memory import (
    MIB,
    N_BATCH,
    Usage,
    estimate_for_layers,
    kv_bytes,
)

GIB = 1024**3

DEFAULT_CTX = 8192
MIN_CTX = 2048
# ggml_type ids llama.cpp takes for type_k / type_v.
GGML_TYPE_IDS = {"f16": 1, "q8_0": 8}


@dataclass(frozen=True)
class OffloadPlan:
    n_gpu_layers: int  # llama.cpp semantics: n_layer + 1 = everything incl. output, 0 = CPU
    n_ctx: int
    total_layers: int  # n_layer + 1 (the output layer counts as one)
    gpu_index: int | None
    gpu_weights_bytes: int
    gpu_kv_bytes: int
    gpu_compute_bytes: int
    ram_weights_bytes: int
    ram_kv_bytes: int
    ram_compute_bytes: int
    fits: bool
    verdict: str  # "gpu_full" | "gpu_partial" | "cpu" | "too_large"
    summary: str
    reasons: tuple[str, ...]
    n_batch: int = N_BATCH
    n_ubatch: int = N_BATCH
    swa_full: bool = False  # the KV sizes assume llama.cpp's small SWA cache
    # "f16" (llama.cpp's default) or "q8_0": the conversation memory stored in 8 bits, with
    # flash attention, when only that fits the wanted context (kv_reason says what it bought).
    kv_type: str = "f16"
    gpu_budget_bytes: int = 0
    ram_budget_bytes: int = 0
    # Several GPUs: the share of the layers each takes, by llama.cpp's device index (its
    # tensor_split), split by free memory. Empty: one GPU (gpu_index) holds the GPU part alone.
    tensor_split: tuple[float, ...] = ()

    @property
    def gpu_count(self) -> int:
        return sum(1 for share in self.tensor_split if share > 0) or (1 if self.gpu_index is not None else 0)

    @property
    def gpu_bytes(self) -> int:
        return self.gpu_weights_bytes + self.gpu_kv_bytes + self.gpu_compute_bytes

    @property
    def ram_bytes(self) -> int:
        return self.ram_weights_bytes + self.ram_kv_bytes + self.ram_compute_bytes

    @property
    def total_bytes(self) -> int:
        return self.gpu_bytes + self.ram_bytes


# --- reserves ---------------------------------------------------------------------------------


def gpu_reserve(gpu: GpuInfo) -> int:
    """VRAM we never plan to use: max(512 MiB, 5% of the card).

    Free VRAM is measured before the engine starts, but the CUDA context and cuBLAS workspace
    then take ~300-500 MiB that no buffer size includes, allocations fragment, and the desktop
    and browser grow their own VRAM use. Running out means a failed load (or a crash) while a
    layer less costs a few percent of speed, so we keep this much aside.
    """
    return max(512 * MIB, gpu.total_bytes // 20)


def ram_reserve(hardware: HardwareInfo) -> int:
    """RAM left for the OS, the app window and whatever the user has open: max(1 GiB, 10%)."""
    return max(GIB, hardware.total_ram_bytes // 10)


# --- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    gpu: GpuInfo | None  # the main GPU (of a group: the one with the most room)
    gpu_bytes: int  # all the group's GPUs together
    ram_bytes: int
    unified: bool
    group: tuple[tuple[GpuInfo, int], ...] = ()  # (GPU, its budget) when several share the layers
    main_room: int = 0  # of a group: the main GPU's budget

    def fits(self, usage: Usage) -> bool:
        if usage.gpu > self.gpu_bytes and usage.gpu > 0:
            return False
        if self.group and usage.gpu > 0:
            # Layers go to each GPU in proportion to its budget; the main one also holds the
            # compute buffer.
            share = (usage.gpu_weights + usage.gpu_kv) * self.main_room / max(1, self.gpu_bytes)
            if share + usage.gpu_compute > self.main_room:
                return False
        if self.unified:  # one pool: GPU buffers come out of the same RAM
            return usage.gpu + usage.ram <= self.ram_bytes
        return usage.ram <= self.ram_bytes

    def tensor_split(self) -> tuple[float, ...]:
        if not self.group:
            return ()
        shares = [0.0] * (max(g.index for g, _ in self.group) + 1)
        for gpu, room in self.group:
            shares[gpu.index] = round(room / max(1, self.gpu_bytes), 4)
        return tuple(shares)


def _gpu_room(gpu: GpuInfo, gpu_reserve_bytes: int | None) -> int:
    reserve = gpu_reserve(gpu) if gpu_reserve_bytes is None else gpu_reserve_bytes
    return max(0, gpu.free_bytes - reserve)


def _budget(
    hardware: HardwareInfo, gpu_reserve_bytes: int | None, gpu: GpuInfo | None = None
) -> _Budget:
    """One GPU's budget (the one with the most free memory unless `gpu` is given)."""
    gpu = gpu if gpu is not None else hardware.best_gpu()
    gpu_bytes = _gpu_room(gpu, gpu_reserve_bytes) if gpu is not None else 0
    ram = max(0, hardware.available_ram_bytes - ram_reserve(hardware))
    unified = hardware.unified_memory or (gpu is not None and gpu.integrated)
    return _Budget(gpu, gpu_bytes, ram, unified)


def _group_budget(hardware: HardwareInfo, gpu_reserve_bytes: int | None) -> _Budget | None:
    """All GPUs of one kind (llama.cpp splits over one backend's devices) as one budget."""
    gpus = [g for g in hardware.gpus if not g.integrated]
    if len(gpus) < 2:
        return None
    kind = max({g.backend for g in gpus}, key=lambda b: sum(g.free_bytes for g in gpus if g.backend == b))
    group = tuple((g, _gpu_room(g, gpu_reserve_bytes)) for g in gpus if g.backend == kind)
    group = tuple((g, room) for g, room in group if room > 0)
    if len(group) < 2:
        return None
    main, main_room = max(group, key=lambda item: (item[1], -item[0].index))
    ram = max(0, hardware.available_ram_bytes - ram_reserve(hardware))
    total = sum(room for _, room in group)
    return _Budget(main, total, ram, hardware.unified_memory, group, main_room)


def _budgets(
    hardware: HardwareInfo, gpu_reserve_bytes: int | None, gpu_choice: int | None
) -> list[_Budget]:
    """Budgets to try, in order: each GPU alone (most free first), then all GPUs together.

    A model that fits on one GPU stays on one (no traffic between cards); `gpu_choice` (the
    user's pinned GPU) leaves only that one.
    """
    if gpu_choice is not None:
        pinned = [g for g in hardware.gpus if g.index == gpu_choice]
        if pinned:
            return [_budget(hardware, gpu_reserve_bytes, pinned[0])]
    singles = sorted(hardware.gpus, key=lambda g: (-g.free_bytes, g.index))
    budgets = [_budget(hardware, gpu_reserve_bytes, g) for g in singles]
    budgets = budgets or [_budget(hardware, gpu_reserve_bytes)]
    group = _group_budget(hardware, gpu_reserve_bytes)
    return budgets + ([group] if group is not None else [])


def _context_candidates(facts: ModelFacts, wanted_ctx: int | None) -> list[int]:
    """Context sizes to try, largest first: the wanted/default one, then halvings to a floor."""
    trained = facts.context_length if facts.context_length > 0 else None
    start = wanted_ctx if wanted_ctx and wanted_ctx > 0 else DEFAULT_CTX
    if trained:
        start = min(start, trained)
    floor = min(MIN_CTX, start)
    candidates = [start]
    ctx = start
    while ctx // 2 >= floor:
        ctx //= 2
        candidates.append(ctx)
    if candidates[-1] > floor:
        candidates.append(floor)
    return candidates


def _most_layers(
    facts: ModelFacts, n_ctx: int, budget: _Budget, cap: int, kv_type: str = "f16"
) -> int | None:
    """Largest n_gpu_layers <= cap whose usage fits; None if not even the CPU plan fits."""
    for k in range(cap, -1, -1):
        if budget.fits(estimate_for_layers(facts, n_ctx, k, kv_type)):
            return k
    return None


def _kv_types(facts: ModelFacts) -> tuple[str, ...]:
    """f16 first; q8_0 when the model has a KV cache whose rows pack into q8_0 blocks."""
    if not facts.has_kv_cache:
        return ("f16",)
    dims = [facts.key_length, facts.value_length, facts.key_length_swa, facts.value_length_swa]
    if any(d and d % 32 for d in dims):
        return ("f16",)
    return ("f16", "q8_0")


def plan_offload(
    facts: ModelFacts,
    hardware: HardwareInfo,
    wanted_ctx: int | None = None,
    *,
    max_gpu_layers: int | None = None,
    gpu_reserve_bytes: int | None = None,
    gpu_choice: int | None = None,
) -> OffloadPlan:
    """The best load for this machine: all on the GPU if possible, else as many layers as fit.

    With no wanted_ctx, a smaller context that lets the whole model on the GPU beats a bigger
    one that does not (GPU speed matters more than a long memory for chat); an explicit
    wanted_ctx is only lowered when the model would not load at all. With several GPUs: one
    GPU that holds the whole model first, then all of them sharing the layers by free memory;
    `gpu_choice` pins one GPU (its index).
    """
    budgets = _budgets(hardware, gpu_reserve_bytes, gpu_choice)
    full = facts.block_count + 1
    candidates = _context_candidates(facts, wanted_ctx)
    full_tries = candidates[:1] if wanted_ctx else candidates
    kv_types = _kv_types(facts)

    def cap_of(budget: _Budget) -> int:
        cap = 0 if budget.gpu is None else full
        return cap if max_gpu_layers is None else max(0, min(cap, max_gpu_layers))

    # A compact (q8_0) KV cache before a shorter context: at each size, f16 first.
    # At each size, one GPU before all of them together.
    for n_ctx in full_tries:
        for budget in budgets:
            if cap_of(budget) != full:
                continue
            for kv in kv_types:
                if budget.fits(estimate_for_layers(facts, n_ctx, full, kv)):
                    return _make_plan(facts, hardware, budget, n_ctx, full, candidates[0], wanted_ctx, kv)
    # Part on the GPU: the budget with the most room (several GPUs together, when there are).
    budget = max(budgets, key=lambda b: b.gpu_bytes)
    cap = cap_of(budget)
    for n_ctx in candidates:
        best: tuple[int, str] | None = None
        for kv in kv_types:
            k = _most_layers(facts, n_ctx, budget, cap, kv)
            # q8_0 only when it fits where f16 does not, or puts more layers on the GPU.
            if k is not None and (best is None or k > best[0]):
                best = (k, kv)
        if best is not None:
            return _make_plan(facts, hardware, budget, n_ctx, best[0], candidates[0], wanted_ctx, best[1])
    return _too_large(facts, hardware, budget, candidates[-1])


def _make_plan(
    facts: ModelFacts,
    hardware: HardwareInfo,
    budget: _Budget,
    n_ctx: int,
    k: int,
    first_ctx: int,
    wanted_ctx: int | None,
    kv_type: str = "f16",
) -> OffloadPlan:
    usage = estimate_for_layers(facts, n_ctx, k, kv_type)
    full = facts.block_count + 1
    verdict = "gpu_full" if k == full else "gpu_partial" if k > 0 else "cpu"
    reasons = _context_reasons(facts, n_ctx, first_ctx, wanted_ctx)
    if kv_type != "f16":
        reasons += (_kv_reason(facts, n_ctx, kv_type),)
    reasons += _memory_reasons(hardware, budget, usage, k)
    summary = _summary(facts, budget, k)
    return _plan(facts, budget, usage, n_ctx, k, True, verdict, summary, reasons, kv_type)


def _kv_reason(facts: ModelFacts, n_ctx: int, kv_type: str) -> str:
    """What the compact conversation memory buys, in plain words."""
    full = kv_bytes(facts, n_ctx)
    compact = kv_bytes(facts, n_ctx, kv_type=kv_type)
    return translate(
        "planner",
        "To keep a {tokens}-token context, Enclave stores the conversation memory in a "
        "compact 8-bit form: {compact} instead of {full} (answers stay practically "
        "the same).",
    ).format(tokens=number(n_ctx), compact=_gb(compact), full=_gb(full))


def _too_large(
    facts: ModelFacts, hardware: HardwareInfo, budget: _Budget, n_ctx: int
) -> OffloadPlan:
    usage = estimate_for_layers(facts, n_ctx, 0)
    needed = usage.ram + ram_reserve(hardware)
    have = hardware.available_ram_bytes + (budget.gpu.free_bytes if budget.gpu else 0)
    if hardware.unified_memory:
        have = hardware.available_ram_bytes
    summary = translate("planner", "Needs {needed}, this computer has {have} available").format(
        needed=_gb(needed), have=_gb(have)
    )
    reasons = (
        translate(
            "planner",
            "Even with a {tokens}-token context and part on the GPU, the model does not fit in "
            "memory ({free} RAM free, {kept} kept for the system).",
        ).format(tokens=n_ctx, free=_gb(hardware.available_ram_bytes), kept=_gb(ram_reserve(hardware))),
        translate(
            "planner",
            "Pick a smaller model or a smaller quantization (for example Q4_K_M instead of Q8_0).",
        ),
    )
    return _plan(facts, budget, usage, n_ctx, 0, False, "too_large", summary, reasons)


def _plan(
    facts: ModelFacts,
    budget: _Budget,
    usage: Usage,
    n_ctx: int,
    k: int,
    fits: bool,
    verdict: str,
    summary: str,
    reasons: tuple[str, ...],
    kv_type: str = "f16",
) -> OffloadPlan:
    return OffloadPlan(
        n_gpu_layers=k,
        n_ctx=n_ctx,
        total_layers=facts.block_count + 1,
        gpu_index=budget.gpu.index if budget.gpu is not None and k > 0 else None,
        gpu_weights_bytes=usage.gpu_weights,
        gpu_kv_bytes=usage.gpu_kv,
        gpu_compute_bytes=usage.gpu_compute,
        ram_weights_bytes=usage.ram_weights,
        ram_kv_bytes=usage.ram_kv,
        ram_compute_bytes=usage.ram_compute,
        fits=fits,
        verdict=verdict,
        summary=summary,
        reasons=reasons,
        gpu_budget_bytes=budget.gpu_bytes,
        ram_budget_bytes=budget.ram_bytes,
        kv_type=kv_type,
        tensor_split=budget.tensor_split() if k > 0 else (),
    )


def _summary(facts: ModelFacts, budget: _Budget, k: int) -> str:
    n_layer = facts.block_count
    if k == n_layer + 1 and budget.group:
        return translate("planner", "Runs fully on your %n GPUs", None, len(budget.group))
    if k == n_layer + 1:
        return translate("planner", "Runs fully on your GPU")
    if k > 0:
        on_gpu = k - 1  # the output layer goes first, then repeating layers
        if on_gpu == 0:
            return translate("planner", "Only the output layer on your GPU, the rest on the CPU: slower")
        return translate(
            "planner", "{on_gpu} of {layers} layers on your GPU, the rest on the CPU: slower"
        ).format(on_gpu=on_gpu, layers=n_layer)
    if budget.gpu is None:
        return translate("planner", "Runs on the CPU (no usable GPU found): slower than on a GPU")
    return translate("planner", "Runs on the CPU, the GPU has too little free memory: slower")


def _context_reasons(
    facts: ModelFacts, n_ctx: int, first_ctx: int, wanted_ctx: int | None
) -> tuple[str, ...]:
    reasons: list[str] = []
    if wanted_ctx and facts.context_length and wanted_ctx > facts.context_length:
        reasons.append(
            translate(
                "planner",
                "The model was trained for at most {trained} tokens of context, "
                "so {wanted} was capped.",
            ).format(trained=facts.context_length, wanted=wanted_ctx)
        )
    if n_ctx < first_ctx:
        reasons.append(
            translate("planner", "Context lowered from {wanted} to {tokens} tokens to fit in memory.").format(
                wanted=first_ctx, tokens=n_ctx
            )
        )
    else:
        reasons.append(translate("planner", "Context: {tokens} tokens.").format(tokens=n_ctx))
    return tuple(reasons)


def _memory_reasons(
    hardware: HardwareInfo, budget: _Budget, usage: Usage, k: int
) -> tuple[str, ...]:
    reasons: list[str] = []
    gpu = budget.gpu
    if budget.group and k > 0:
        # Each card's share of the layers, as llama.cpp will split them (tensor_split).
        for card, room in budget.group:
            reasons.append(
                translate(
                    "planner",
                    "GPU {gpu}: takes {share}% of the layers, about {used} of its {free} free.",
                ).format(
                    gpu=card.name,
                    share=number(100 * room / max(1, budget.gpu_bytes)),
                    used=_gb(int(usage.gpu * room / max(1, budget.gpu_bytes))),
                    free=_gb(card.free_bytes),
                )
            )
    elif gpu is not None:
        reasons.append(
            translate(
                "planner",
                "GPU {gpu}: plan uses {used} of {free} free "
                "(keeping {kept} for the driver and other apps).",
            ).format(
                gpu=gpu.name,
                used=_gb(usage.gpu),
                free=_gb(gpu.free_bytes),
                kept=_gb(gpu.free_bytes - budget.gpu_bytes),
            )
        )
    reasons.append(
        translate("planner", "RAM: plan uses {used} of {available} available.").format(
            used=_gb(usage.ram), available=_gb(hardware.available_ram_bytes)
        )
    )
    reasons.extend(hardware.notes)
    return tuple(reasons)


def _gb(n_bytes: int) -> str:
    if n_bytes >= GIB:
        return translate("planner", "{size} GB").format(size=number(n_bytes / GIB, 1))
    return translate("planner", "{size} MB").format(size=number(max(n_bytes, 0) / MIB, 0))


# --- remote files -----------------------------------------------------------------------------


def facts_from_file_size(file_size: int, n_layers_guess: int = 32) -> ModelFacts:
    """Stand-in facts for a file we only know the size of (a Hugging Face listing).

    Shapes are Llama-3-8B-like (GQA with 8 KV heads of 128, 128k vocabulary), the common case
    for today's chat models; weights are split ~90% layers, 5% embedding, 5% output.
    """
    n_layers = max(1, n_layers_guess)
    embd = file_size // 20
    layer = (file_size - 2 * embd) // n_layers
    return ModelFacts(
        path=Path("(remote)"),
        file_size=file_size,
        architecture="unknown",
        name="(estimate from file size)",
        size_label=None,
        quantization="unknown",
        context_length=0,
        block_count=n_layers,
        layer_bytes=(layer,) * n_layers,
        output_bytes=embd,
        token_embd_bytes=embd,
        other_bytes=0,
        head_count=(32,) * n_layers,
        head_count_kv=(8,) * n_layers,
        embedding_length=4096,
        key_length=128,
        value_length=128,
        sliding_window=None,
        swa_layers=(False,) * n_layers,
        has_chat_template=True,
        chat_template=None,
        is_embedding_model=False,
        vocab_size=128256,
        feed_forward_length=14336,
        tensor_bytes=layer * n_layers + 2 * embd,
    )


def plan_from_file_size(
    file_size: int,
    hardware: HardwareInfo,
    wanted_ctx: int | None = None,
    n_layers_guess: int = 32,
) -> OffloadPlan:
    """A coarse plan from the size alone, for the download browser's "will it fit" badge."""
    plan = plan_offload(facts_from_file_size(file_size, n_layers_guess), hardware, wanted_ctx)
    note = translate(
        "planner", "Estimated from the file size only; the real plan is made once it is downloaded."
    )
    return dataclasses.replace(plan, reasons=(*plan.reasons, note))
