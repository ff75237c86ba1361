"""The prompt probe: llama.cpp's prompt (matrix) throughput per tensor type, timed on tiny
llama-architecture GGUF files with random weights, one file per type.

Why synthetic: the bundled MiniLM is Q8_0 only and 384 wide, and K-quants need rows that are a
multiple of 256 (llama.cpp's quantizer turns a Q4_K tensor of a 384/576/640-wide model into
Q5_0, a Q6_K one into Q8_0), so no shipped file could show what Q4_K or Q6_K reach. Random
weights run exactly as fast as trained ones: the kernels never look at the values.

One F16 file is written with the `gguf` package (llama.cpp's own gguf-py), the others are
quantized from it by llama.cpp itself (`llama_model_quantize`, pure: every matrix in the one
type), so each file holds llama.cpp's real block layout. Written once into the cache folder,
reused while the generator and llama.cpp stay the same (their version is in the folder name).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core import paths

log = logging.getLogger("enclave.speed")

GENERATOR_VERSION = 2
# One layer of a ~1B-class shape: widths are multiples of 256 (K-quants' super-block) and big
# enough that llama.cpp's matrix tiling runs as on real models; ~11 M layer parameters keep a
# 256-token prompt at ~0.05-0.1 s a type on two cores, and all files at ~80 MB.
N_EMBD = 1024
N_FF = 2816
N_LAYER = 1
N_HEAD = 16
N_HEAD_KV = 4
N_VOCAB = 256  # no tokenizer ("none"): tokens go in by id, the dummy vocabulary only sizes them
N_CTX = 512
TRAINED_CTX = 4096  # what the header claims: llama.cpp warns about contexts beyond it

# Tensor type -> llama_ftype that makes every matrix that type under `pure` quantization.
FTYPES: dict[str, int] = {
    "F16": 1,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K": 12,
    "Q4_K": 15,
    "Q5_K": 17,
    "Q6_K": 18,
    "IQ4_NL": 25,
    "IQ4_XS": 30,
    "BF16": 32,
}


@dataclass(frozen=True)
class Shape:
    embd: int = N_EMBD
    ff: int = N_FF
    layers: int = N_LAYER
    heads: int = N_HEAD
    heads_kv: int = N_HEAD_KV
    vocab: int = N_VOCAB

    @property
    def layer_params(self) -> int:
        """Parameters in one layer's matrices (Q, K, V, output; gate, up, down)."""
        kv = self.embd // self.heads * self.heads_kv
        return 2 * self.embd * self.embd + 2 * self.embd * kv + 3 * self.embd * self.ff


SHAPE = Shape()


def folder(llama_version: str = "") -> Path:
    """Where the files live: the cache folder, one subfolder per generator and llama.cpp."""
    key = hashlib.sha256(f"{GENERATOR_VERSION}|{SHAPE}|{llama_version}".encode()).hexdigest()[:10]
    return paths.cache_dir() / "speed-models" / key


def model_path(type_name: str, llama_version: str = "") -> Path:
    return folder(llama_version) / f"synthetic-{type_name.lower()}.gguf"


def write_f16(path: Path, shape: Shape = SHAPE, seed: int = 0) -> None:
    """The F16 file: a llama-architecture model of `shape`, random weights, no tokenizer."""
    import numpy as np
    from gguf import GGUFWriter, LlamaFileType

    rng = np.random.default_rng(seed)

    def matrix(rows: int, cols: int) -> np.ndarray:
        # numpy shape (rows, cols) = ggml's (ne0=cols, ne1=rows): rows of `cols` weights.
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)

    head_dim = shape.embd // shape.heads
    kv = head_dim * shape.heads_kv
    tmp = path.with_suffix(".part")
    writer = GGUFWriter(str(tmp), "llama")
    try:
        writer.add_name("Enclave speed probe")
        writer.add_context_length(TRAINED_CTX)
        writer.add_embedding_length(shape.embd)
        writer.add_feed_forward_length(shape.ff)
        writer.add_block_count(shape.layers)
        writer.add_head_count(shape.heads)
        writer.add_head_count_kv(shape.heads_kv)
        writer.add_rope_dimension_count(head_dim)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_vocab_size(shape.vocab)
        writer.add_file_type(LlamaFileType.MOSTLY_F16)
        writer.add_tokenizer_model("none")  # llama.cpp then sizes a dummy vocabulary by vocab_size
        ones = np.ones(shape.embd, dtype=np.float32)
        writer.add_tensor("token_embd.weight", matrix(shape.vocab, shape.embd))
        writer.add_tensor("output_norm.weight", ones)
        for i in range(shape.layers):
            block = f"blk.{i}."
            writer.add_tensor(block + "attn_norm.weight", ones)
            writer.add_tensor(block + "attn_q.weight", matrix(shape.embd, shape.embd))
            writer.add_tensor(block + "attn_k.weight", matrix(kv, shape.embd))
            writer.add_tensor(block + "attn_v.weight", matrix(kv, shape.embd))
            writer.add_tensor(block + "attn_output.weight", matrix(shape.embd, shape.embd))
            writer.add_tensor(block + "ffn_norm.weight", ones)
            writer.add_tensor(block + "ffn_gate.weight", matrix(shape.ff, shape.embd))
            writer.add_tensor(block + "ffn_up.weight", matrix(shape.ff, shape.embd))
            writer.add_tensor(block + "ffn_down.weight", matrix(shape.embd, shape.ff))
        # No output.weight: llama.cpp ties it to token_embd, as small models do.
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    _settle(tmp)
    os.replace(tmp, path)


def _settle(path: Path) -> None:
    """On disk before the clock starts: the kernel writing ~80 MB back in the background
    slowed the benchmark's first measurements that follow (bandwidth, one-token timing)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def quantize(source: Path, target: Path, type_name: str, threads: int) -> None:
    """llama.cpp's own quantizer, every matrix (token embedding included) in `type_name`."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = FTYPES[type_name]
    params.pure = True
    tmp = target.with_suffix(".part")
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params))
    if code != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"llama.cpp could not quantize the speed probe to {type_name} (code {code})")
    _settle(tmp)
    os.replace(tmp, target)


def ensure_models(types: tuple[str, ...], threads: int, llama_version: str = "") -> dict[str, Path]:
    """Every type's file, written now where missing. Raises when llama.cpp cannot make them."""
    out: dict[str, Path] = {}
    base = model_path("F16", llama_version)
    base.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    if not base.is_file():
        write_f16(base)
    for type_name in types:
        path = model_path(type_name, llama_version)
        if type_name != "F16" and not path.is_file():
            quantize(base, path, type_name, threads)
        out[type_name] = path
    took = time.monotonic() - began
    if took > 0.05:
        log.info("speed probe models ready in %.1f s (%s)", took, base.parent)
    return out


def remove_old(llama_version: str = "") -> None:
    """Drop the files of other generator or llama.cpp versions (they are never read again)."""
    keep = folder(llama_version)
    parent = keep.parent
    if not parent.is_dir():
        return
    for child in parent.iterdir():
        if child != keep and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)


# --- timing -----------------------------------------------------------------------------------

PROMPT_TOKENS = 256  # "a few hundred": half of the engine's 512-token batch, a whole ubatch here


def prompt_flops(shape: Shape = SHAPE, tokens: int = PROMPT_TOKENS) -> float:
    """One prompt's matrix work: 2 x parameters x tokens, plus causal attention (QK^T and AV:
    4 x width x attended positions per layer; ~2 % of it at 256 tokens), plus the logits of
    every token (the tied output matrix, vocab x width: ~1 %)."""
    attended = tokens * (tokens + 1) / 2
    layers = shape.layers * (2 * shape.layer_params * tokens + 4 * shape.embd * attended)
    return layers + 2 * shape.vocab * shape.embd * tokens


class PromptTimer:
    """One probe file loaded in llama.cpp (mmap, a context of `n_ctx`, flash attention off as
    the engine runs it), timed on prompts of `tokens` ids through the low-level API."""

    def __init__(self, path: Path, threads: int, n_ctx: int = N_CTX, tokens: int = PROMPT_TOKENS) -> None:
        import llama_cpp

        self._lib: Any = llama_cpp
        mparams = llama_cpp.llama_model_default_params()
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
        if not self._model:
            raise RuntimeError(f"llama.cpp could not load the speed probe {path.name}")
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = cparams.n_ubatch = tokens
        cparams.n_threads = cparams.n_threads_batch = threads
        cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            llama_cpp.llama_model_free(self._model)
            raise RuntimeError(f"llama.cpp could not start a context for {path.name}")
        # Logits for every token, not only the last: with one output llama.cpp's last layer
        # runs its attention output and feed-forward for that token alone, and this model has
        # a single layer, so most of the work would never happen.
        self.tokens = tokens
        self._batch = llama_cpp.llama_batch_init(tokens, 0, 1)
        batch = self._batch
        for i in range(tokens):
            batch.token[i] = (i * 37 + 11) % N_VOCAB
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1
        batch.n_tokens = tokens

    def run(self, start: int = 0) -> float:
        """Seconds for one prompt of `tokens` at positions start.., after the first `start`
        positions (kept in the cache from `fill`); what an earlier run added is dropped."""
        lib = self._lib
        memory = lib.llama_get_memory(self._ctx)
        if start == 0:
            lib.llama_memory_clear(memory, True)
        else:
            lib.llama_memory_seq_rm(memory, 0, start, -1)
        for i in range(self.tokens):
            self._batch.pos[i] = start + i
        began = time.perf_counter()
        code = lib.llama_decode(self._ctx, self._batch)
        lib.llama_synchronize(self._ctx)
        took = time.perf_counter() - began
        if code != 0:
            raise RuntimeError(f"llama_decode failed on the speed probe ({code})")
        return took

    def fill(self, positions: int) -> None:
        """The cache holds positions 0..positions-1 afterwards (a document read so far)."""
        for start in range(0, positions, self.tokens):
            self.run(start)

    def close(self) -> None:
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)
        self._lib.llama_model_free(self._model)


MIN_ROUNDS = 3  # timed rounds every type gets, whatever the deadline says


def time_types(
    files: dict[str, Path], threads: int, deadline: float | None = None, max_rounds: int = 5
) -> dict[str, float]:
    """GFLOP/s of llama.cpp's prompt per probe file: every file loaded at once, timed in rounds
    (one prompt of each type per round, one untimed round first: it touches the pages and wakes
    the threads) until the deadline, and the median of each type's rounds.

    Why rounds and the median, not each type's best run in a row: on the build VM (2 shared
    Zen 4 cores) speed drifts in phases of a few hundred milliseconds (Q4_K 230 GFLOP/s for a
    second, then 190); a type timed alone for 0.3 s caught one phase, so its figure moved by
    +-20 % between benchmarks, and a best run is a peak that a 2,000-token prompt (seconds)
    never holds. Interleaved, every type samples the same phases; the median is what a long
    prompt averages to, and ignores a run another program interrupted."""
    median = median_in_rounds(
        {name: (path, {}) for name, path in files.items()}, threads, MIN_ROUNDS, max_rounds, deadline
    )
    flops = prompt_flops()
    return {name: flops / seconds / 1e9 for name, seconds in median.items()}


def median_in_rounds(
    files: dict[str, tuple[Path, dict[str, int]]],
    threads: int,
    min_rounds: int,
    max_rounds: int,
    deadline: float | None,
    warmups: int = 1,
) -> dict[str, float]:
    """Median seconds of `PromptTimer.run` per named file (path, PromptTimer keyword arguments):
    every file loaded at once, `warmups` untimed runs each (pages, threads), then rounds of one
    run of each until the deadline (at least `min_rounds`). Shared by the prompt and the decode
    probes: on a shared machine interleaved files see the same phases of its speed."""
    import statistics

    timers: dict[str, PromptTimer] = {}
    try:
        for name, (path, options) in files.items():
            timers[name] = PromptTimer(path, threads, **options)
        for timer in timers.values():
            for _ in range(warmups):
                timer.run()
        runs: dict[str, list[float]] = {name: [] for name in timers}
        for round_ in range(max_rounds):
            if round_ >= min_rounds and deadline is not None and time.monotonic() > deadline:
                break
            for name, timer in timers.items():
                runs[name].append(timer.run())
    finally:
        for timer in timers.values():
            timer.close()
    return {name: statistics.median(seconds) for name, seconds in runs.items()}


# --- attention --------------------------------------------------------------------------------

# The attention probe: the same width and heads (head length 64), a token-sized feed-forward,
# so that a prompt's time is mostly attention. Without flash attention (the engine's default)
# llama.cpp scores every query against every cached key of the batch's whole window, scales,
# masks and softmaxes each score, then converts them for the values' product: per score that
# costs more than its 4 x head-length multiply-adds at the F16 figure. SmolLM2 135M (head
# length 64) at 1,536-2,048 cached tokens read its attention at 47 GFLOP/s where the F16 probe
# reached 130, which put its first word 20 % early.
ATTENTION_SHAPE = Shape(ff=256)
ATTENTION_BATCH = 512  # the engine's ubatch
ATTENTION_KV = 2048  # cached tokens the long batch ends at: a document question's


def attention_path(llama_version: str = "") -> Path:
    return folder(llama_version) / "synthetic-attention-f16.gguf"


def ensure_attention_model(llama_version: str = "") -> Path:
    return _ensure_f16(attention_path(llama_version), ATTENTION_SHAPE, seed=1)


def _ensure_f16(path: Path, shape: Shape, seed: int) -> Path:
    """An F16 probe file of `shape`, written where missing."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_f16(path, shape, seed=seed)
    return path


def score_elements(shape: Shape, tokens: int, cached: int) -> int:
    """Attention scores a batch of `tokens` computes after `cached` tokens: every head, every
    query against every key in the cache window (llama.cpp pads it to 256 cells)."""
    window = -(-(cached + tokens) // 256) * 256
    return shape.layers * shape.heads * tokens * window


def time_attention(path: Path, threads: int, f16_gflops: float, rounds: int = 3) -> float:
    """Nanoseconds each attention score costs beyond its multiply-adds at the F16 figure:
    (a 512-token batch after 1,536 cached tokens - the same batch on an empty cache), over the
    scores the longer one adds, less 4 x head length / F16 GFLOP/s. Two contexts, one kept
    filled, so that short and long batches alternate and see the same phases of a shared
    machine's speed; medians of `rounds`."""
    import statistics

    shape = ATTENTION_SHAPE
    start = ATTENTION_KV - ATTENTION_BATCH
    empty = PromptTimer(path, threads, n_ctx=ATTENTION_KV, tokens=ATTENTION_BATCH)
    try:
        filled = PromptTimer(path, threads, n_ctx=ATTENTION_KV, tokens=ATTENTION_BATCH)
        try:
            empty.run(0)  # untimed: pages and threads
            filled.fill(start)
            short: list[float] = []
            long: list[float] = []
            for _ in range(rounds):
                short.append(empty.run(0))
                long.append(filled.run(start))
        finally:
            filled.close()
    finally:
        empty.close()
    extra = score_elements(shape, ATTENTION_BATCH, start) - score_elements(shape, ATTENTION_BATCH, 0)
    per_score_s = (statistics.median(long) - statistics.median(short)) / extra
    head_dim = shape.embd // shape.heads
    return max(0.0, (per_score_s - 4 * head_dim / (f16_gflops * 1e9)) * 1e9)


# --- writing: one-token decodes ---------------------------------------------------------------

# Writing reads every weight once per token, so its time is (per tensor type) bytes / the
# one-token kernels' speed, plus fixed costs: one per token (graph, threads' start, logits) and
# one per layer (norms, rope, attention over a short cache, thread barriers between ops). The
# per-type files above give the kernels; two tiny models (64 wide, 1 and 9 layers: their matrices
# take microseconds) give the fixed costs. On the 2-core build VM the kernels ran 10-32 GB/s of
# weights by type (Q4_1 slowest, F16 fastest) where a plain read reaches ~30: on a few cores
# writing is bound by dequantizing and dot products, not by memory, and Gemma 3 270M's Q8_0
# output matrix (70 % of its bytes) made one figure for every type predict it 28 % slow.
OVERHEAD_LAYERS = (1, 9)
DECODE_CTX = 64
MIN_DECODE_ROUNDS = 12


def overhead_shape(layers: int) -> Shape:
    return Shape(embd=64, ff=64, layers=layers, heads=4, heads_kv=4)


def overhead_path(layers: int, llama_version: str = "") -> Path:
    return folder(llama_version) / f"synthetic-overhead-{layers}.gguf"


def ensure_overhead_models(llama_version: str = "") -> tuple[Path, Path]:
    few, many = (_ensure_f16(overhead_path(n, llama_version), overhead_shape(n), 2) for n in OVERHEAD_LAYERS)
    return few, many


@dataclass(frozen=True)
class DecodeTiming:
    gb_per_s: tuple[tuple[str, float], ...]  # weight bytes per second of one-token kernels, by type
    token_ms: float  # fixed cost of every token
    layer_ms: float  # fixed cost of every layer, every token


def bytes_read_per_token(path: Path) -> int:
    """Matrix bytes one generated token reads in a probe file (its layer and the tied output)."""
    from app.core.gguf_facts import read_model_facts

    return sum(n for _type, n in read_model_facts(path).decode_bytes_by_type)


def time_decode(
    files: dict[str, Path],
    overhead: tuple[Path, Path],
    threads: int,
    deadline: float | None = None,
    max_rounds: int = 60,
) -> DecodeTiming:
    """One-token decodes of every probe file and both overhead models, interleaved in rounds
    (as `time_types`, for the same reason: a shared machine's speed drifts in phases), medians.
    Fixed costs: the 9-layer model minus the 1-layer one, over 8 layers, is a layer's; the
    1-layer model less one layer is a token's. A type's speed: its bytes over what its decode
    takes beyond those."""
    named = {**files, "overhead-1": overhead[0], "overhead-9": overhead[1]}
    one_token = {"n_ctx": DECODE_CTX, "tokens": 1}
    median = median_in_rounds(
        {name: (path, one_token) for name, path in named.items()},
        threads, MIN_DECODE_ROUNDS, max_rounds, deadline, warmups=2,
    )  # fmt: skip
    spread = OVERHEAD_LAYERS[1] - OVERHEAD_LAYERS[0]
    layer_s = max(0.0, (median["overhead-9"] - median["overhead-1"]) / spread)
    token_s = max(0.0, median["overhead-1"] - layer_s)
    rates = []
    for name, path in files.items():
        # Floor: a type can never look faster than 1/10 of its whole time would make it.
        kernel_s = max(median[name] - token_s - layer_s, median[name] / 10)
        rates.append((name, round(bytes_read_per_token(path) / kernel_s / 1e9, 2)))
    return DecodeTiming(tuple(rates), round(token_s * 1e3, 4), round(layer_s * 1e3, 4))
