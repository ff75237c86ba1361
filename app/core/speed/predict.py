"""Predicted answer speed of one model file on this machine, from its facts and the benchmark.

Writing (decode), per token, on the CPU:
    fixed cost of a token + layers x fixed cost of a layer          graph, threads, norms, rope
  + max(sum over tensor types t of bytes of type t / one-token GB/s of type t     the kernels
          + MEMORY_STALL_SHARE x bytes read / memory bandwidth at that working set,
        bytes read / (memory bandwidth x efficiency))               never faster than memory
  + vocabulary x cost per logit                                     the sampler chain
The probe's one-token kernels run on weights mostly in cache; a real model's come from memory,
and the hardware prefetcher hides about half of that wait behind the kernels (fitted, below).
On the 2-core build VM the kernels dominate (10-32 GB/s of weights by type against ~30 GB/s
of plain reads); on many cores memory does, and the second term takes over. All of it is
measured by the machine benchmark's decode probe. A profile without per-type one-token figures
(before version 4) adds memory and one kernel figure (MiniLM's) instead, which put Gemma 3 270M
(70 % of its bytes a Q8_0 output matrix) 28 % slow.
A GPU's layers are read at its bandwidth plus a fixed cost per layer.
Bytes read per token are the layers' weights plus the output matrix (the embedding matrix
itself when the model ties them); the embedding table is otherwise only looked up, one row.
Layers on a GPU are read at the GPU's bandwidth, the rest at the CPU's.

Reading the question (prompt evaluation) of n tokens, on the CPU:
    sum over the layers' tensor types t of  2 x parameters of type t x n / GFLOP/s of type t
  + attention 4 x heads x head length x scores / GFLOP/s of F16
  + scores x the measured cost of a score (scale, mask, softmax: attention_ns)
where scores per head and layer are what llama.cpp computes without flash attention (the
engine's default): each 512-token batch against the whole cache window, padded to 256 cells,
masked future positions included; sliding-window layers' caches hold window + batch cells.
llama.cpp's prompt kernels differ a lot per weight type (Q4_1 at 70 GFLOP/s, Q4_K at 190 on
the build VM), so the benchmark measures each type (machine_bench / prompt_probe) and a file's
header says how many layer parameters each type holds (gguf_facts.ModelFacts.matrix_params);
attention multiplies activations by the F16 KV cache, llama.cpp's F16 path. A profile without per-type figures
(GPUs, old profiles) uses its one matrix figure for everything. The first word comes after the
prompt plus one decode step.

Before download (Discover, the model page) only the file size and the quantization's name are
known: parameters = size x 8 / bits, layers and width from a typical model of that size, the
tensor types from what llama.cpp's mix of that name puts in a typical model
(quant_types.MIXES: Q4_K_M is ~85 % Q4_K, ~15 % Q6_K). Small models whose width is not a
multiple of 256 have their K-quant tensors stored as Q5_0/Q8_0 instead; only the file's own
header shows that. Mixture-of-experts files read only their active experts; nothing here knows
which files those are, so their speed is underestimated (said in the tooltip as "an estimate").

The constants marked "fitted" were set on the build machine (a 2-core VM) against SmolLM2 135M
and Gemma 3 270M; tests/benchmarks/bench_speed_prediction.py prints predicted / measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from app.core.gguf_facts import ModelFacts
    from app.core.speed.profile import DeviceSpeed, MachineProfile

WORDS_PER_TOKEN = 0.75  # English prose: about 3 words for every 4 tokens
DOC_PROMPT_TOKENS = 2000  # a typical question about documents: passages + question + template
FAST_TOKENS_PER_S = 8.0  # below this, reading along feels like waiting
FAST_FIRST_WORD_S = 10.0
CPU_BANDWIDTH_EFFICIENCY = 0.85  # fitted: llama.cpp's decode vs a plain parallel read
# Measured: what a token costs outside llama_decode (sampling, the host-to-client hand-off), per
# vocabulary entry. `enclave chat --json` on Gemma 3 270M (262k entries), 2-core VM, after the
# decode loop's numpy top-k (cbd61eb): 1/46.8 - 1/47.5 tok/s (client vs llama.cpp eval) = 0.31 ms
# = 1.2 ns an entry (was 3.0, set before that loop existed).
LOGIT_NS = 1.2
# Fitted: the share of a token's memory time not hidden behind the kernels. Paired runs on the
# build VM (the decode probe, then llama_decode of one token on SmolLM2 135M and Gemma 3 270M,
# 7 rounds, 2026-12-03): 0.45 puts predicted / measured at a geometric mean of 1.00 (0.3: 1.06,
# 0.7: 0.92); the rounds range 0.79-1.26, which is the VM's speed drifting between the probe and
# the model's own run a second later, not the model (the same drift moves both models alike).
MEMORY_STALL_SHARE = 0.45
PROMPT_EFFICIENCY = 1.0  # real models' matrices vs the prompt probe's 1024-wide ones
TYPICAL_HEAD_DIM = 128  # Llama 3, Qwen 2.5/3, Mistral; before download
PCIE_GB_PER_S = 12.0  # CPU-held weights streamed to the GPU for a long prompt


@dataclass(frozen=True)
class SpeedFacts:
    """What speed depends on in a model file."""

    decode_bytes: int  # weights read per generated token
    matmul_params: int  # parameters in the layers' matrices (prompt cost per token / 2)
    n_layers: int
    vocab: int
    attn_width: int  # heads x key length: attention cost per attended position / 4
    window: int | None = None  # sliding window, on `swa_fraction` of the layers
    swa_fraction: float = 0.0
    exact: bool = True  # False: guessed from the file size before download
    # `matmul_params` split by llama.cpp tensor type, ("Q4_K", n); empty: type unknown.
    params_by_type: tuple[tuple[str, int], ...] = ()
    head_dim: int = 0  # key length: attn_width / head_dim heads score each position; 0 unknown
    # Matrix bytes a generated token reads, by tensor type (layers and output); empty: unknown.
    bytes_by_type: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Prediction:
    decode_tokens_per_s: float
    prompt_tokens_per_s: float
    first_word_s: float  # for a DOC_PROMPT_TOKENS prompt
    prompt_tokens: int
    where: str  # "cpu" | "gpu" | "gpu+cpu"
    exact: bool  # from the file's facts (True) or its size only

    @property
    def words_per_s(self) -> float:
        return self.decode_tokens_per_s * WORDS_PER_TOKEN

    @property
    def fast_enough(self) -> bool:
        return self.decode_tokens_per_s >= FAST_TOKENS_PER_S and self.first_word_s <= FAST_FIRST_WORD_S

    def as_dict(self) -> dict[str, object]:
        return {
            "decode_tokens_per_s": round(self.decode_tokens_per_s, 2),
            "words_per_s": round(self.words_per_s, 2),
            "prompt_tokens_per_s": round(self.prompt_tokens_per_s, 1),
            "first_word_s": round(self.first_word_s, 2),
            "prompt_tokens": self.prompt_tokens,
            "where": self.where,
            "fast_enough": self.fast_enough,
            "from_file_facts": self.exact,
        }


# --- facts ------------------------------------------------------------------------------------


def facts_from_gguf(facts: ModelFacts) -> SpeedFacts:
    from app.core.hub import quant_bits

    layers = sum(facts.layer_bytes)
    output = facts.output_bytes if facts.output_bytes else facts.token_embd_bytes
    bits = quant_bits(facts.quantization.upper())
    if bits > 32:  # a name we do not know: average bits from the file itself
        bits = 4.9
    heads = max(facts.head_count, default=0)
    n_swa = sum(facts.swa_layers)
    by_type = facts.matrix_params
    return SpeedFacts(
        decode_bytes=layers + output + facts.other_bytes,
        matmul_params=sum(n for _t, n in by_type) if by_type else int(layers * 8 / bits),
        n_layers=facts.block_count,
        vocab=facts.vocab_size,
        attn_width=heads * facts.key_length,
        window=facts.sliding_window,
        swa_fraction=n_swa / facts.block_count if facts.block_count else 0.0,
        exact=True,
        params_by_type=by_type,
        head_dim=facts.key_length,
        bytes_by_type=facts.decode_bytes_by_type,
    )


def facts_from_size(size: int, bits: float, quant: str | None = None) -> SpeedFacts:
    """A typical model of this file size and quantization (before download). `quant`: the
    quantization's name ("Q4_K_M"), for its tensor types; without it one figure for all."""
    from app.core.fit import _layers_guess
    from app.core.speed.quant_types import mix_of

    bits = bits if 0 < bits <= 32 else 4.9
    params = size * 8 / bits
    n_layers = _layers_guess(size)
    # Non-embedding share and width of typical decoder models (Llama/Qwen/Gemma shapes).
    matmul = params * (0.8 if params < 2e9 else 0.9)
    width = int(math.sqrt(matmul / (12 * n_layers)))
    known = quant is not None and quant.lower() != "other"
    mix = mix_of(quant) if quant and known else ()
    by_type = tuple((t, int(matmul * share)) for t, share in mix)
    # The whole file split by the mix, output matrix included (its own type is not known
    # before download: Q6_K in K mixes, often Q8_0 in small models; the mix is the guess).
    bytes_by_type = tuple((t, int(size * share)) for t, share in mix)
    return SpeedFacts(
        decode_bytes=int(size),
        matmul_params=int(matmul),
        n_layers=n_layers,
        vocab=150_000,
        attn_width=width,
        exact=False,
        params_by_type=by_type,
        head_dim=TYPICAL_HEAD_DIM,
        bytes_by_type=bytes_by_type,
    )


# --- the prediction ---------------------------------------------------------------------------


UBATCH = 512  # the engine's n_ubatch: llama.cpp evaluates a prompt in batches of this size
KV_PAD = 256  # llama.cpp rounds the cache window a batch attends over up to this


def attended_positions(n: int, window: int | None, ubatch: int = UBATCH) -> float:
    """Attention scores per head and layer that llama.cpp computes for an n-token prompt:
    without flash attention each batch scores its queries against the whole cache window
    (padded to 256 cells, future positions masked, not skipped): the rectangle, not the causal
    triangle. A sliding-window layer's cache holds window + batch cells."""
    total = 0.0
    for start in range(0, n, ubatch):
        size = min(ubatch, n - start)
        cells = _padded(start + size)
        if window is not None:
            cells = min(cells, _padded(window + size))
        total += size * cells
    return total


def _padded(cells: int) -> int:
    return -(-cells // KV_PAD) * KV_PAD


def predict(
    speed: SpeedFacts,
    profile: MachineProfile,
    *,
    gpu_fraction: float = 0.0,
    gpu_index: int | None = None,
    prompt_tokens: int = DOC_PROMPT_TOKENS,
) -> Prediction:
    """gpu_fraction: share of the layers offloaded (OffloadPlan / Fit n_gpu_layers / total)."""
    gpu: DeviceSpeed | None = None
    if gpu_fraction > 0:
        gpu = profile.gpu(gpu_index) if gpu_index is not None else (profile.gpus[0] if profile.gpus else None)
    f = min(max(gpu_fraction, 0.0), 1.0) if gpu is not None else 0.0
    cpu = profile.cpu
    cpu_bytes = speed.decode_bytes * (1 - f)
    gpu_bytes = speed.decode_bytes * f
    decode_s = speed.vocab * LOGIT_NS * 1e-9
    if cpu_bytes:
        decode_s += cpu_decode_seconds(speed, cpu, 1 - f)
    if gpu is not None and gpu_bytes:
        decode_s += gpu_bytes / (gpu.read_gb_per_s(int(gpu_bytes)) * 1e9)
        decode_s += speed.n_layers * f * gpu.layer_overhead_ms / 1e3
    window_share = speed.swa_fraction if speed.window else 0.0
    attended = (1 - window_share) * attended_positions(prompt_tokens, None) + window_share * (
        attended_positions(prompt_tokens, speed.window)
    )
    attention_flops = 4 * speed.n_layers * speed.attn_width * attended
    if gpu is not None and f > 0:
        # llama.cpp evaluates a long prompt on the GPU, streaming CPU-held layers to it.
        flops = 2 * speed.matmul_params * prompt_tokens + attention_flops
        prompt_s = flops / (gpu.matmul_gflops * 1e9) + cpu_bytes / (PCIE_GB_PER_S * 1e9)
    else:
        prompt_s = cpu_prompt_seconds(speed, cpu, prompt_tokens, attention_flops)
    where = "cpu" if f == 0 else ("gpu" if f >= 1 else "gpu+cpu")
    return Prediction(
        decode_tokens_per_s=1.0 / decode_s,
        prompt_tokens_per_s=prompt_tokens / prompt_s,
        first_word_s=prompt_s + decode_s,
        prompt_tokens=prompt_tokens,
        where=where,
        exact=speed.exact,
    )


def cpu_decode_seconds(speed: SpeedFacts, cpu: DeviceSpeed, share: float = 1.0) -> float:
    """One token's time on the CPU for `share` of the layers (the rest on a GPU): fixed costs,
    then the kernels' time by tensor type with the memory wait they do not hide, never less
    than memory's own time. Old profiles and files without per-type bytes: memory plus one
    kernel figure, added."""
    cpu_bytes = speed.decode_bytes * share
    read_gb_per_s = cpu.read_gb_per_s(int(cpu_bytes))
    memory_s = cpu_bytes / (read_gb_per_s * CPU_BANDWIDTH_EFFICIENCY * 1e9)
    layers_s = speed.n_layers * share * cpu.layer_overhead_ms / 1e3
    if cpu.decode_gb_per_s and speed.bytes_by_type:
        kernels_s = share * sum(n / (cpu.decode_rate_for(t) * 1e9) for t, n in speed.bytes_by_type)
        stall_s = MEMORY_STALL_SHARE * cpu_bytes / (read_gb_per_s * 1e9)
        return cpu.token_overhead_ms / 1e3 + layers_s + max(kernels_s + stall_s, memory_s)
    kernels_s = cpu_bytes / (cpu.matvec_gb_per_s * 1e9) if cpu.matvec_gb_per_s > 0 else 0.0
    return memory_s + layers_s + kernels_s


def cpu_prompt_seconds(
    speed: SpeedFacts, cpu: DeviceSpeed, prompt_tokens: int, attention_flops: float
) -> float:
    """The prompt on the CPU: each tensor type's parameters at that type's measured speed,
    attention's multiply-adds at F16's (the KV cache's type) plus its measured cost per score
    (scale, mask, softmax: DeviceSpeed.attention_ns)."""
    by_type = speed.params_by_type or (("", speed.matmul_params),)  # "": the one figure
    seconds = attention_flops / (cpu.gflops_for("F16") * 1e9)
    if speed.head_dim > 0:
        scores = attention_flops / (4 * speed.head_dim)  # every head, layer and position
        seconds += scores * cpu.attention_ns * 1e-9
    for type_name, params in by_type:
        gflops = cpu.gflops_for(type_name) if type_name else cpu.matmul_gflops
        seconds += 2 * params * prompt_tokens / (gflops * 1e9)
    return seconds / PROMPT_EFFICIENCY


def predict_facts(
    facts: ModelFacts,
    profile: MachineProfile,
    n_gpu_layers: int = 0,
    total_layers: int = 0,
    prompt_tokens: int = DOC_PROMPT_TOKENS,
) -> Prediction:
    share = n_gpu_layers / total_layers if total_layers else 0.0
    return predict(facts_from_gguf(facts), profile, gpu_fraction=share, prompt_tokens=prompt_tokens)


def predict_size(
    size: int,
    bits: float,
    profile: MachineProfile,
    n_gpu_layers: int = 0,
    total_layers: int = 0,
    quant: str | None = None,
) -> Prediction:
    share = n_gpu_layers / total_layers if total_layers else 0.0
    return predict(facts_from_size(size, bits, quant), profile, gpu_fraction=share)


def predict_path(
    path: Path, profile: MachineProfile, n_gpu_layers: int = 0, total_layers: int = 0
) -> Prediction | None:
    """A file on disk: from its GGUF facts (reads the header; call on a worker). None when it
    is not a model that writes text (an embedding model) or cannot be read at all."""
    from app.core.gguf_facts import GGUFError, read_model_facts
    from app.core.hub import parse_quant, quant_bits

    try:
        facts = read_model_facts(path)
    except GGUFError:
        try:
            size = path.stat().st_size
        except OSError:
            return None
        quant = parse_quant(path.name)
        return predict_size(size, quant_bits(quant), profile, n_gpu_layers, total_layers, quant)
    if facts.is_embedding_model:
        return None
    return predict_facts(facts, profile, n_gpu_layers, total_layers)
