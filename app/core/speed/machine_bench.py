"""The machine benchmark: what decides how fast a model answers here, measured in a few seconds.

A language model writes one token at a time, and for each one llama.cpp reads every weight it
uses once: the speed of writing is set by memory bandwidth (plus a fixed cost per layer for
handing work between threads). Reading the question (prompt evaluation) is the other way round:
thousands of tokens go through each weight at once, so it is set by matrix throughput.

So we measure, on the CPU:
- read bandwidth, with as many threads as the engine uses (physical cores), over buffers of
  several sizes: a small model's weights may sit in a large L3 cache (this build machine reports
  480 MB), a big one's never do, so the prediction reads the curve at the model's own size;
- llama.cpp's prompt (matrix) throughput per tensor type (prompt_probe.py): a 256-token prompt
  on a one-layer, 1024-wide llama model with random weights, one file per type (Q4_K, Q6_K,
  Q8_0, Q5_0, Q4_0, Q5_K, Q4_1, F16), quantized by llama.cpp itself and kept in the cache
  folder, timed in interleaved rounds (median; ~2.5 s). Its kernels differ a lot per type
  (Q4_1 reached 70 GFLOP/s where Q4_K reached 190 on the build VM), so a prompt's time is
  summed over a file's tensors by type (predict.py); other types borrow the nearest measured
  one's figure (quant_types.py). Then the attention probe (~0.8 s): what each attention score
  costs beyond its F16 multiply-adds without flash attention (scale, mask, softmax; ~3 ns
  here, which for a 64-wide head is more than the multiply-adds). Writing the files takes
  ~2 s on the first run only: `prepare_seconds`, outside the 10 s budget (`seconds`);
- llama.cpp's one-token (writing) speed per tensor type: one-token decodes of the same probe
  files, interleaved, and of two tiny 64-wide models of 1 and 9 layers for the fixed costs of a
  token and of a layer (prompt_probe.time_decode, ~0.5 s). The kernels differ by type as much
  as for prompts (Q4_1 ~10, Q8_0 ~15, Q4_K ~17, F16 ~32 GB/s of weights on the build VM), and
  on a few cores they, not memory, bound writing. A numpy GEMM would measure OpenBLAS's float32
  kernels, which llama.cpp does not use; llama.cpp's own timing is what correlates with
  llama.cpp. When the probe cannot run, MiniLM's 256-token evaluation gives one matrix figure
  for every type and its 1-token evaluations one writing figure (weights in cache: kernels and
  per-layer costs), and when llama.cpp cannot run at all a numpy GEMM scaled by a stated guess
  does.

GPUs are described from their drivers' published facts, not measured (gpu_speed.py).

The result is cached per machine in the cache folder (profile_cache.py); `enclave bench` or
"measure again" re-runs it, and the window runs it in a child process so that native code never
runs in the GUI process.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core import paths
from app.core.speed.gpu_speed import gpu_speeds
from app.core.speed.profile import BandwidthPoint, DeviceSpeed, MachineProfile
from app.core.speed.profile_cache import BENCH_VERSION, llama_version, machine_key

if TYPE_CHECKING:
    from app.core.hardware import HardwareInfo
    from app.core.speed.prompt_probe import DecodeTiming

log = logging.getLogger("enclave.speed")

MIB = 1024**2
# Working sets the bandwidth curve is measured at; the biggest must exceed any cache.
BUFFER_SIZES = (32 * MIB, 128 * MIB, 512 * MIB, 1024 * MIB)
TIME_BUDGET_S = 7.0  # the benchmark plus its process start (~1 s) stays under 10 s when busy
PROMPT_TOKENS = 256  # MiniLM's trained window
# numpy's float32 GEMM reaches more than llama.cpp's quantized kernels; a guess, used only
# when llama.cpp itself cannot be timed.
GEMM_TO_LLAMA = 0.35
DEFAULT_LAYER_OVERHEAD_MS = 0.15
DECODE_PROBE_S = 0.45  # one-token rounds of every type (at least MIN_DECODE_ROUNDS)


def engine_threads() -> int:
    """The threads the engine host gives llama.cpp (physical cores): measure with the same."""
    import psutil

    return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)


def measure_bandwidth(
    threads: int, sizes: tuple[int, ...] = BUFFER_SIZES, deadline: float | None = None
) -> tuple[BandwidthPoint, ...]:
    """Read bandwidth per buffer size: `threads` threads each reduce their share of one buffer.

    numpy's integer reductions release the GIL, so the threads really run at once, as
    llama.cpp's do; best of a few passes (a busy machine only ever makes a pass slower).
    """
    import numpy as np
    import psutil

    limit = int(psutil.virtual_memory().available) // 4  # never push a small machine to swap
    wanted = [size for size in sizes if size <= limit] or [min(sizes)]
    # One buffer, its pages touched chunk by chunk (ones, not zeros: real pages, not the shared
    # zero page); each size is measured on its first bytes as soon as they exist, so a machine
    # slow to hand out memory stops early instead of running past the time budget.
    data = np.empty(max(wanted) // 8, dtype=np.int64)
    chunk = 16 * MIB // 8
    filled = 0
    points: list[BandwidthPoint] = []
    for size in sorted(wanted):
        end = size // 8
        while filled < end:
            if points and deadline is not None and time.monotonic() > deadline:
                return tuple(points)
            data[filled : filled + chunk] = 1
            filled = min(filled + chunk, end)
        parts = np.array_split(data[:end], threads)
        best = math.inf
        for passes in range(5):
            if passes >= 1 and deadline is not None and time.monotonic() > deadline:
                break
            if passes >= 2 and best * passes > 0.4:
                break
            best = min(best, _timed_parallel(lambda part: np.bitwise_or.reduce(part), parts))
        points.append(BandwidthPoint(end * 8, end * 8 / best / 1e9))
    return tuple(points)


def _timed_parallel(work: Any, parts: list[Any]) -> float:
    start = threading.Barrier(len(parts) + 1)

    def run(part: Any) -> None:
        start.wait()
        work(part)

    workers = [threading.Thread(target=run, args=(part,), daemon=True) for part in parts]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began


@dataclass(frozen=True)
class LlamaTiming:
    prompt_tokens_per_s: float
    one_token_ms: float
    matmul_gflops: float
    matvec_gb_per_s: float


def measure_llama(
    model: Path,
    threads: int,
    bandwidth: tuple[BandwidthPoint, ...],
    deadline: float | None = None,
    *,
    prompt_budget_s: float = 1.5,
    one_token: bool = True,
) -> LlamaTiming:
    """Time llama.cpp on the bundled embedding model: matrix throughput on a 256-token prompt
    (its Q8_0 kernels; the one figure when the per-type probe cannot run) and one-token
    throughput (its 11 MB of layer weights stay in cache, so this is the kernels' speed, fixed
    costs per layer included, not memory's). The prompt runs come first also when the probe
    measures matrices (`prompt_budget_s` short): one-token runs of ~0.5 ms read slower without
    that warm-up on the build VM (0.53 vs 0.44 ms). `one_token` False: no one-token runs (the
    decode probe measures writing per type instead); one_token_ms and matvec_gb_per_s are 0.

    Raises when llama.cpp or the model cannot be used (the caller falls back).
    """
    from app.core.documents.local_embedder import EmbeddingRunner
    from app.core.gguf_facts import read_model_facts

    facts = read_model_facts(model)
    d, ff, n_layer = facts.embedding_length, facts.feed_forward_length, facts.block_count
    # A BERT layer's matrices: Q, K, V, output (d x d each) and two feed-forward (d x ff).
    params = n_layer * (4 * d * d + 2 * d * ff)
    runner = EmbeddingRunner(
        model, window=PROMPT_TOKENS, batch_tokens=PROMPT_TOKENS, n_threads=threads, runtime="llama"
    )
    try:
        cls_id, sep_id = 101, 102
        tokens = [cls_id] + [1000 + (i * 37) % 20000 for i in range(PROMPT_TOKENS - 2)] + [sep_id]
        # Best of several: the first run also touches the weights' pages and starts the threads.
        prompt_s = _best_time(
            lambda: runner.embed_tokens([tokens], normalize=False), 6, prompt_budget_s, deadline
        )
        one_s = 0.0
        if one_token:
            if deadline is not None:
                deadline = max(deadline, time.monotonic() + 0.3)  # always a few 1-token runs
            single = [[cls_id]]
            one_s = _best_time(lambda: runner.embed_tokens(single, normalize=False), 40, 0.6, deadline)
    finally:
        runner.close()
    tokens_per_s = PROMPT_TOKENS / prompt_s
    # Attention inside the 256-token window adds 2 x 2 x n^2 x d per layer (QK^T and AV).
    flops = 2 * params * PROMPT_TOKENS + 4 * n_layer * PROMPT_TOKENS**2 * d
    matvec = sum(facts.layer_bytes) / one_s / 1e9 if one_s else 0.0
    return LlamaTiming(tokens_per_s, one_s * 1e3, flops / prompt_s / 1e9, matvec)


def _best_time(work: Any, times: int, budget_s: float, deadline: float | None) -> float:
    best = math.inf
    began = time.perf_counter()
    for _ in range(times):
        t0 = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - began > budget_s:
            break
        if deadline is not None and time.monotonic() > deadline:
            break
    return best


@dataclass(frozen=True)
class ProbeFiles:
    types: dict[str, Path]  # one per measured tensor type (prompt and one-token timing)
    attention: Path
    overhead: tuple[Path, Path]  # the decode probe's fixed costs: 1 and 9 tiny layers


def prepare_probe(threads: int) -> ProbeFiles:
    """The probe's files, one per measured type, the attention probe's and the decode probe's
    overhead models, written now where missing (seconds, the first time on a machine; then
    nothing). Raises when llama.cpp cannot make them."""
    from app.core.documents.local_embedder import _quiet_llama
    from app.core.speed import prompt_probe
    from app.core.speed.quant_types import MEASURED

    _quiet_llama()  # the quantizer needs llama.cpp's backends loaded, as the timing does
    files = prompt_probe.ensure_models(MEASURED, threads, llama_version())
    attention = prompt_probe.ensure_attention_model(llama_version())
    overhead = prompt_probe.ensure_overhead_models(llama_version())
    prompt_probe.remove_old(llama_version())
    return ProbeFiles(files, attention, overhead)


def measure_prompt_types(
    files: dict[str, Path], threads: int, deadline: float | None = None
) -> tuple[tuple[str, float], ...]:
    """llama.cpp's prompt GFLOP/s per tensor type, in `files`' order (most common first)."""
    from app.core.speed import prompt_probe

    measured = prompt_probe.time_types(files, threads, deadline)
    return tuple((name, round(gflops, 1)) for name, gflops in measured.items())


def measure_gemm(threads: int) -> float:
    """numpy float32 GEMM GFLOP/s (OpenBLAS): the fallback for matrix throughput."""
    import numpy as np

    n = 768
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = _best_time(lambda: a @ b, 8, 0.5, None)
    return 2 * n**3 / best / 1e9


# --- GPUs: from the device's facts (not measured) ----------------------------------------------

# Published memory bandwidth of Apple chips (GB/s), longest name first.
def run_benchmark(
    hardware: HardwareInfo | None = None,
    *,
    embedding_model: Path | None = None,
    use_llama: bool = True,
    threads: int | None = None,
) -> MachineProfile:
    """Measure this machine now (at most ~10 s). Does not save it: see `save_profile`."""
    from app.core.hardware import detect_hardware

    hardware = hardware or detect_hardware()
    threads = threads or engine_threads()
    notes: list[str] = []
    # Before the clock starts: loading llama.cpp and, the first time only, writing the probe.
    prepare_began = time.monotonic()
    probe: ProbeFiles | None = None
    if use_llama:
        try:
            probe = prepare_probe(threads)
        except Exception as exc:
            log.info("speed probe unavailable (%s); one matrix figure from MiniLM", exc)
            notes.append(f"Prompt speed per quantization type could not be measured ({exc}).")
    began = time.monotonic()
    deadline = began + TIME_BUDGET_S
    # ~2.5 s: the 1 GB buffer's pages are handed out as it fills (0.4 of the budget: 2.85 s).
    curve = measure_bandwidth(threads, deadline=began + TIME_BUDGET_S * 0.35)
    gflops, matvec, overhead, how = 0.0, 0.0, DEFAULT_LAYER_OVERHEAD_MS, ""
    per_type: tuple[tuple[str, float], ...] = ()
    decode: DecodeTiming | None = None
    attention_ns = 0.0
    model = embedding_model or paths.default_embedding_model()
    if use_llama:
        try:
            # MiniLM first (~0.4 s with the probe: its prompt runs also wake the threads; ~2 s
            # without, when its one-token runs are the writing figure), then the probe.
            budget = 0.3 if probe else 1.5
            timing = measure_llama(
                model, threads, curve, deadline, prompt_budget_s=budget, one_token=probe is None
            )
            gflops, matvec, overhead = timing.matmul_gflops, timing.matvec_gb_per_s, 0.0
            how = f"llama.cpp on {model.name}: {timing.prompt_tokens_per_s:.0f} prompt tokens/s"
            if timing.one_token_ms:
                how += f", {timing.one_token_ms:.2f} ms for one token"
        except Exception as exc:
            log.info("llama.cpp could not be timed (%s); using a numpy GEMM", exc)
            notes.append(f"llama.cpp could not be timed ({exc}); matrix speed from numpy instead.")
    if probe is not None and gflops:
        from app.core.speed import prompt_probe

        try:
            # Writing per type first (~0.5 s); the prompt types get the time up to the attention
            # probe, which takes ~0.8-1.2 s at the end.
            decode = prompt_probe.time_decode(
                probe.types, probe.overhead, threads, deadline=time.monotonic() + DECODE_PROBE_S
            )
            overhead = decode.layer_ms
            per_type = measure_prompt_types(probe.types, threads, deadline - 1.2)
            gflops = statistics.median(g for _name, g in per_type)
            table = ", ".join(f"{name} {g:.0f}" for name, g in per_type)
            f16 = dict(per_type).get("F16", gflops)
            attention_ns = round(prompt_probe.time_attention(probe.attention, threads, f16), 2)
            writing = ", ".join(f"{name} {g:.1f}" for name, g in decode.gb_per_s)
            how = (
                f"llama.cpp prompt probe, GFLOP/s: {table}; attention +{attention_ns:.1f} ns a score; "
                f"one-token GB/s: {writing}, +{decode.token_ms:.3f} ms a token, "
                f"+{decode.layer_ms:.3f} ms a layer; {how}"
            )
        except Exception as exc:
            log.info("speed probe could not be timed (%s)", exc)
            notes.append(f"Prompt speed per quantization type could not be measured ({exc}).")
    if not gflops:
        gemm = measure_gemm(threads)
        gflops = gemm * GEMM_TO_LLAMA
        how = how or f"numpy float32 GEMM {gemm:.0f} GFLOP/s x {GEMM_TO_LLAMA} (a guess)"
    cpu = DeviceSpeed(
        kind="cpu",
        name=hardware.cpu_name,
        bandwidth=curve,
        matmul_gflops=gflops,
        layer_overhead_ms=overhead,
        matvec_gb_per_s=matvec,
        measured=True,
        how=f"{threads} threads; bandwidth: numpy reductions; matrix: {how}",
        prompt_gflops=per_type,
        attention_ns=attention_ns,
        decode_gb_per_s=decode.gb_per_s if decode else (),
        token_overhead_ms=decode.token_ms if decode else 0.0,
    )
    if curve and max(p.size_bytes for p in curve) < 512 * MIB:
        notes.append(
            "Memory could only be measured on small buffers in the time allowed; "
            "large models may be slower than predicted."
        )
    gpus = gpu_speeds(hardware)
    if gpus:
        notes.append("GPU speeds come from the devices' published facts, not measured.")
    if load_average_busy():
        notes.append("Other programs were busy during the measurement; speeds may be low.")
    return MachineProfile(
        version=BENCH_VERSION,
        machine_key=machine_key(hardware),
        measured_at=time.time(),
        seconds=time.monotonic() - began,
        threads=threads,
        cpu=cpu,
        gpus=gpus,
        notes=tuple(notes),
        llama_version=llama_version(),
        prepare_seconds=round(began - prepare_began, 3),
    )


def load_average_busy() -> bool:
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1) * 0.75
    except (OSError, AttributeError):  # Windows has no load average
        return False
