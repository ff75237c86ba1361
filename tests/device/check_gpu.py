"""GPU checks on a real NVIDIA GPU (the lent machine; see tests/device/run_gpu_checks.sh).

What it checks, through the product's own code (detect_hardware, plan_offload, load_model, the
engine host, its decode loop), with model skeletons (gguf_skeleton.py: the real files' shapes,
types and sizes, gibberish answers):
1. NVML and ggml's device list both see the GPU, with the same free memory.
2. Per model, all on the GPU: the planner's weights, KV cache and compute buffer against
   llama.cpp's own buffer report there, and the engine process's real VRAM (NVML, per process)
   against what the planner set aside; decode tokens/s the client sees ÷ llama.cpp's eval rate.
3. A GPU another program has mostly filled (a PyTorch allocation holds the rest): the planner
   offloads part of the model, it loads without running out of memory and answers, and it uses
   no more than what was free.
4. A long context that fits only with a q8_0 KV cache: the planner picks it and llama.cpp's KV
   buffer matches.
5. A draft model beside the chat model on the GPU (placed by draft_plan), and what a batch of 5
   tokens costs against 1 on the GPU: what speculative decoding can gain there.
6. SmolLM2 and Gemma through llama-cpp-python's own loop (ENCLAVE_DECODE_LOOP=library): what
   the engine's decode loop gains or loses on a GPU.

Writes results.json (and prints it); every part records its error instead of stopping the rest.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.engine import ggml_devices  # noqa: E402
from app.core.engine import protocol as p  # noqa: E402
from app.core.engine.client import EngineClient  # noqa: E402
from app.core.engine.decode import SWITCH_ENV  # noqa: E402
from app.core.engine.loader import load_model  # noqa: E402
from app.core.gguf_facts import read_model_facts  # noqa: E402
from app.core.hardware import detect_hardware  # noqa: E402
from app.core.model_memory import estimate_for_layers  # noqa: E402
from app.core.planner import MIB, gpu_reserve  # noqa: E402

BUFFER = re.compile(r"(CUDA\d+|CPU|CUDA_Host|CPU_Mapped)\s+(model|KV|compute) buffer size =\s+([\d.]+) MiB")
QUESTION = [{"role": "user", "content": "Write a long story about a lighthouse."}]
results: dict[str, Any] = {}


def part(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                results[name] = fn(*args)
            except Exception:  # noqa: BLE001 - a check that breaks is a result too
                results[name] = {"error": traceback.format_exc()[-3000:]}
            results[name + "_s"] = round(time.perf_counter() - started, 1)
            print(name, json.dumps(results[name], default=str)[:2000], flush=True)
            return results[name]

        return run

    return wrap


def nvml_device_used() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used)
    except Exception:  # noqa: BLE001 - no NVIDIA GPU (a dry run)
        return -1


def nvml_process_bytes(pid: int) -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        running = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception:  # noqa: BLE001
        return -1
    for proc in running:
        if proc.pid == pid and proc.usedGpuMemory is not None:
            return int(proc.usedGpuMemory)
    return -1


def buffers(log_text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for where, kind, mib in BUFFER.findall(log_text):
        if where.startswith("CUDA") and where != "CUDA_Host":
            found[kind] = found.get(kind, 0.0) + float(mib)
    return found


def rates(client: EngineClient, runs: int, temperature: float) -> dict[str, Any]:
    ratios, client_rates, eval_rates = [], [], []
    for run in range(runs):
        sampling = p.SamplingParams(temperature=temperature, max_tokens=256, seed=run + 1)
        _, stats = client.chat(QUESTION, sampling)
        client_rates.append(stats.client_tokens_per_s)
        eval_rates.append(stats.engine.engine_eval_tokens_per_s)
        ratios.append(stats.client_tokens_per_s / stats.engine.engine_eval_tokens_per_s)
    return {"client_tok_s": round(statistics.median(client_rates), 1),
            "eval_tok_s": round(statistics.median(eval_rates), 1),
            "ratio_median": round(statistics.median(ratios), 3), "ratios": [round(r, 3) for r in ratios],
            "generated": stats.engine.generated_tokens}


def load_and_measure(model: Path, log: Path, wanted_ctx: int, hardware: Any = None,
                     draft: Path | None = None, speed: bool = True) -> dict[str, Any]:
    client = EngineClient(log_path=log)
    before = nvml_device_used()
    try:
        outcome = load_model(client, model, wanted_ctx=wanted_ctx, hardware=hardware, draft_model=draft)
        plan = outcome.plan
        text = log.read_text(errors="replace")
        found = buffers(text)
        used = nvml_process_bytes(client.host_pid or -1)
        delta = nvml_device_used() - before
        planned = plan.gpu_weights_bytes + plan.gpu_kv_bytes + plan.gpu_compute_bytes
        row: dict[str, Any] = {
            "verdict": plan.verdict, "n_gpu_layers": plan.n_gpu_layers, "total_layers": plan.total_layers,
            "n_ctx": plan.n_ctx, "kv_type": plan.kv_type, "notice": outcome.notice,
            "plan_mib": {"model": round(plan.gpu_weights_bytes / MIB, 2),
                         "KV": round(plan.gpu_kv_bytes / MIB, 2),
                         "compute": round(plan.gpu_compute_bytes / MIB, 2)},
            "llama_cpp_mib": found,
            "nvml_process_mib": round(used / MIB, 1), "nvml_device_delta_mib": round(delta / MIB, 1),
            "planned_gpu_mib": round(planned / MIB, 1),
            "gpu_budget_mib": round(plan.gpu_budget_bytes / MIB, 1),
            "offload_line": (re.findall(r"offloaded \d+/\d+ layers to GPU", text) or [""])[-1],
        }
        for kind in ("model", "KV", "compute"):
            if kind in found and found[kind] > 0:
                row[f"{kind}_plan_over_llama"] = round(row["plan_mib"][kind] / found[kind], 4)
        if speed:
            rates(client, 1, 0.0)  # warm-up: CUDA graphs, kernels' first launch
            row["greedy"] = rates(client, 3, 0.0)
            row["t0.7"] = rates(client, 3, 0.7)
        return row
    finally:
        client.shutdown()


@part("devices")
def devices() -> dict[str, Any]:
    hardware = detect_hardware()
    listed, note = ggml_devices.probe()
    return {"nvml": [vars(g) for g in hardware.gpus], "ggml": [vars(d) for d in listed], "note": note,
            "notes": list(hardware.notes), "cpu": hardware.cpu_name, "cores": hardware.physical_cores}


HOLDER = """
import sys, time, torch
target_free = int(sys.argv[1])
torch.zeros(1, device="cuda")
free, _ = torch.cuda.mem_get_info()
held = torch.empty(max(0, free - target_free), dtype=torch.uint8, device="cuda")
print("held", held.numel(), flush=True)
time.sleep(600)
"""


def hold_gpu_until_free(target_free: int) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target_free)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    line = holder.stdout.readline()
    assert line.startswith("held"), line
    return holder


@part("squeezed_gpu")
def squeezed(model: Path, log: Path) -> dict[str, Any]:
    """Another program holds all but the reserve plus ~55 % of this model's full-GPU needs."""
    facts = read_model_facts(model)
    gpu = detect_hardware().gpus[0]
    full = estimate_for_layers(facts, 4096, facts.block_count + 1)
    target = gpu_reserve(gpu) + int(0.55 * full.gpu)
    holder = hold_gpu_until_free(target)
    try:
        free_at_plan = detect_hardware().gpus[0].free_bytes
        row = load_and_measure(model, log, 4096)
        row["free_before_load_mib"] = round(free_at_plan / MIB, 1)
        row["used_within_free"] = row["nvml_process_mib"] <= free_at_plan / MIB
        return row
    finally:
        holder.kill()


@part("q8_kv_long_context")
def long_context(model: Path, log: Path) -> dict[str, Any]:
    """Free memory between the q8_0 and f16 KV cache's needs at 32k tokens."""
    facts = read_model_facts(model)
    gpu = detect_hardware().gpus[0]
    everything = facts.block_count + 1
    f16 = estimate_for_layers(facts, 32768, everything, "f16").gpu
    q8 = estimate_for_layers(facts, 32768, everything, "q8_0").gpu
    holder = hold_gpu_until_free(gpu_reserve(gpu) + (f16 + q8) // 2)
    try:
        row = load_and_measure(model, log, 32768, speed=False)
        row["needs_f16_mib"], row["needs_q8_mib"] = round(f16 / MIB, 1), round(q8 / MIB, 1)
        return row
    finally:
        holder.kill()


STEP_COST = """
import sys, time, ctypes, statistics
import llama_cpp, llama_cpp.llama_cpp as raw
from app.core.engine.backends import load_backends
load_backends()
out = {}
for path in sys.argv[1:]:
    llm = llama_cpp.Llama(path, n_ctx=2048, n_gpu_layers=999, verbose=False, flash_attn=True)
    prompt = [int(t) % 1000 + 100 for t in range(512)]
    llm.eval(prompt)
    costs = {}
    for width in (1, 2, 3, 5, 8):
        batch = raw.llama_batch_init(width, 0, 1)
        times = []
        for rep in range(40):
            pos = 512 + rep % 4 * 8
            raw.llama_memory_seq_rm(raw.llama_get_memory(llm._ctx.ctx), 0, pos, -1)
            batch.n_tokens = width
            for i in range(width):
                batch.token[i] = 200 + i; batch.pos[i] = pos + i; batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0; batch.logits[i] = 1
            t = time.perf_counter(); raw.llama_decode(llm._ctx.ctx, batch)
            raw.llama_get_logits_ith(llm._ctx.ctx, width - 1); raw.llama_synchronize(llm._ctx.ctx)
            times.append(time.perf_counter() - t)
        costs[width] = round(statistics.median(times[5:]) * 1000, 3)
        raw.llama_batch_free(batch)
    out[path.rsplit('/', 1)[-1]] = costs
    llm.close()
print("STEPS", __import__("json").dumps(out))
"""


@part("speculation_step_cost_ms")
def step_costs(*models: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", STEP_COST, *map(str, models)], capture_output=True,
                          text=True, timeout=300, check=False)
    line = [x for x in done.stdout.splitlines() if x.startswith("STEPS")]
    if not line:
        return {"error": done.stderr[-3000:]}
    return dict(json.loads(line[0][6:]))


def main() -> None:
    models, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    names = [m.stem for m in sorted(models.glob("*.gguf"))]
    devices()
    for name in names:
        part(f"full_gpu_{name}")(load_and_measure)(models / f"{name}.gguf", logs / f"{name}.log", 4096)
    # The same answers through llama-cpp-python's own loop: whether the engine's decode loop
    # (and its numpy top-k cut, which runs cold after a CPU decode) pays on a GPU.
    os.environ[SWITCH_ENV] = "library"
    for name in ("smollm2", "gemma3"):
        if (models / f"{name}.gguf").exists():
            part(f"library_loop_{name}")(load_and_measure)(
                models / f"{name}.gguf", logs / f"{name}-library.log", 4096
            )
    del os.environ[SWITCH_ENV]
    big = models / "qwen15.gguf"
    if big.exists():
        squeezed(big, logs / "squeezed.log")
        long_context(big, logs / "long.log")
        part("draft_on_gpu")(load_and_measure)(big, logs / "draft.log", 4096, None, models / "qwen05.gguf")
        step_costs(big, models / "qwen05.gguf", models / "smollm2.gguf")
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
