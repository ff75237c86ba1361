"""The planner's byte counts against what llama.cpp itself allocates for the same load.

A child process loads the real model with llama_cpp.Llama(verbose=True) on the CPU and we parse
the buffer sizes it prints (load_tensors / llama_kv_cache / sched_reserve lines).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.gguf_facts import read_model_facts
from app.core.hardware import HardwareInfo
from app.core.planner import GIB, MIB, OffloadPlan, plan_offload

pytest.importorskip("llama_cpp")

LOADER = """
import sys, llama_cpp
from app.core.engine.backends import load_backends
load_backends()  # the portable (GGML_BACKEND_DL) build has no CPU backend until one is loaded
from app.core.engine.host_load import kv_cache_args
path, n_ctx, n_batch, n_ubatch, swa_full, embedding, kv_type = sys.argv[1:]
llama_cpp.Llama(
    model_path=path, n_ctx=int(n_ctx), n_batch=int(n_batch), n_ubatch=int(n_ubatch),
    n_gpu_layers=0, swa_full=swa_full == "1", embedding=embedding == "1", verbose=True,
    **kv_cache_args(kv_type),
)
"""

BUFFER = re.compile(r"(\S+)\s+(model|KV|compute|output) buffer size =\s+([\d.]+) MiB")


@dataclass
class Measured:
    weights: float = 0.0
    kv: float = 0.0
    compute: float = 0.0
    output: float = 0.0


def load_and_measure(path: Path, plan: OffloadPlan, embedding: bool) -> Measured:
    argv = [
        sys.executable, "-c", LOADER, str(path), str(plan.n_ctx), str(plan.n_batch),
        str(plan.n_ubatch), "1" if plan.swa_full else "0", "1" if embedding else "0",
        plan.kv_type,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = Measured()
    for buffer, kind, mib in BUFFER.findall(done.stderr):
        value = float(mib)
        if kind == "model":
            # CPU_REPACK is a re-laid-out copy of some tensors for this CPU's SIMD kernels,
            # on top of the mapped file; the planner counts the file's tensor bytes.
            if "REPACK" not in buffer:
                measured.weights += value
        elif kind == "KV":
            measured.kv += value
        elif kind == "compute":
            measured.compute += value
        else:
            measured.output += value
    return measured


def predicted_by(plan: OffloadPlan) -> Measured:
    """The plan's CPU-side bytes in MiB, as llama.cpp prints them."""
    return Measured(
        weights=plan.ram_weights_bytes / MIB,
        kv=plan.ram_kv_bytes / MIB,
        compute=plan.ram_compute_bytes / MIB,
    )


def cpu_only(hardware_ram: int = 64 * 1024**3) -> HardwareInfo:
    return HardwareInfo(hardware_ram, hardware_ram, 2, 2, "cpu", "os", (), False, ())


def close(predicted: float, actual: float, tolerance: float = 0.03) -> bool:
    if actual == 0:
        return predicted == 0
    return abs(predicted - actual) / actual <= tolerance


@pytest.mark.parametrize("n_ctx", [4096, 32768])
def test_chat_model_matches_llama_cpp(chat_model_path: Path, n_ctx: int) -> None:
    facts = read_model_facts(chat_model_path)
    plan = plan_offload(facts, cpu_only(), n_ctx)
    assert plan.n_ctx == n_ctx and plan.n_gpu_layers == 0
    got = load_and_measure(chat_model_path, plan, embedding=False)
    predicted = predicted_by(plan)
    report = f"n_ctx={n_ctx} predicted={predicted} llama.cpp={got}"
    print(report)
    assert close(predicted.weights, got.weights), report
    assert close(predicted.kv, got.kv), report
    # Compute is an estimate; it includes the host output buffer.
    assert close(predicted.compute, got.compute + got.output, 0.25), report


def test_compact_kv_cache_matches_llama_cpp_and_buys_the_context(instruct_model_path: Path) -> None:
    """A computer whose RAM holds SmolLM2 with its full 8k context only when the KV cache is
    q8_0: the plan keeps 8k that way, says so, and llama.cpp allocates what the plan says."""
    facts = read_model_facts(instruct_model_path)
    n_ctx = facts.context_length  # 8192, the most it was trained for
    f16 = plan_offload(facts, cpu_only(), n_ctx)
    assert f16.kv_type == "f16" and f16.n_ctx == n_ctx
    need_f16 = f16.ram_weights_bytes + f16.ram_kv_bytes + f16.ram_compute_bytes
    room = need_f16 - f16.ram_kv_bytes // 3  # a third of the f16 cache short
    ram = room + GIB  # planner.ram_reserve keeps 1 GiB (10 % of a small machine's RAM is less)
    tight = HardwareInfo(ram, ram, 2, 2, "cpu", "os", (), False, ())
    plan = plan_offload(facts, tight, n_ctx)
    assert plan.fits and plan.n_ctx == n_ctx and plan.kv_type == "q8_0", plan
    assert any("compact 8-bit" in r for r in plan.reasons), plan.reasons
    got = load_and_measure(instruct_model_path, plan, embedding=False)
    predicted = predicted_by(plan)
    report = f"predicted={predicted} llama.cpp={got}"
    print(report)
    assert close(predicted.kv, got.kv), report
    assert close(predicted.compute, got.compute + got.output, 0.25), report
    assert close(predicted.weights, got.weights), report
    # Flash attention holds no 8k x 512 attention scores: the compute buffer shrinks too.
    assert got.compute + got.output < 0.8 * f16.ram_compute_bytes / MIB, report


def test_embedding_model_matches_llama_cpp(embedding_model_path: Path) -> None:
    facts = read_model_facts(embedding_model_path)
    plan = plan_offload(facts, cpu_only(), 512)
    got = load_and_measure(embedding_model_path, plan, embedding=True)
    predicted = predicted_by(plan)
    report = f"predicted={predicted} llama.cpp={got}"
    print(report)
    assert close(predicted.weights, got.weights), report
    assert got.kv == 0 and predicted.kv == 0, report  # encoders keep no KV cache
    # Compute is an estimate; it includes the host output buffer.
    assert close(predicted.compute, got.compute + got.output, 0.25), report
