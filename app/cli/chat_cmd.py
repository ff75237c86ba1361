"""`enclave chat MODEL --prompt TEXT [--json]`: one answer through the same engine host the
window uses, with the numbers that tell how fast it was."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.output import fail, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("chat", help="ask a model one question from the terminal")
    parser.add_argument("model", type=Path, help="path to a .gguf model file")
    parser.add_argument("--prompt", "-p", required=True, help="the question")
    parser.add_argument("--system", default="", help="an optional system prompt")
    parser.add_argument("--ctx", type=int, default=None, help="context size in tokens")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--repeat-penalty", type=float, default=1.0, help="1.0 = off")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: physical cores)")
    parser.add_argument("--json", action="store_true", help="print the answer and stats as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.core.engine import protocol as p
    from app.core.engine.client import EngineClient, EngineError
    from app.core.engine.loader import load_model
    from app.core.gguf_facts import GGUFError

    if not args.model.is_file():
        return fail(f"There is no file at {args.model}.")
    client = EngineClient()
    try:
        outcome = load_model(client, args.model, wanted_ctx=args.ctx, n_threads=args.threads)
        if outcome.notice and not args.json:
            print(outcome.notice, file=sys.stderr)
        messages = [{"role": "system", "content": args.system}] if args.system else []
        messages.append({"role": "user", "content": args.prompt})
        sampling = p.SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)

        def echo(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        text, stats = client.chat(messages, sampling, on_tokens=None if args.json else echo)
    except GGUFError as exc:
        return fail(str(exc))
    except EngineError as exc:
        tail = getattr(exc, "log_tail", "")
        return fail(exc.message + (f"\nLast engine log lines:\n{tail}" if tail else ""))
    finally:
        client.shutdown()
    engine = stats.engine
    summary = {
        "model": str(args.model),
        "answer": text,
        "n_ctx": outcome.plan.n_ctx,
        "n_gpu_layers": outcome.plan.n_gpu_layers,
        "plan": outcome.plan.summary,
        "prompt_tokens": engine.prompt_tokens,
        "generated_tokens": engine.generated_tokens,
        "time_to_first_token_s": round(stats.time_to_first_token_s, 4),
        "client_tokens_per_s": round(stats.client_tokens_per_s, 2),
        "engine_eval_tokens_per_s": round(engine.engine_eval_tokens_per_s, 2),
        "engine_prompt_tokens_per_s": round(engine.engine_prompt_tokens_per_s, 2),
        "finish_reason": engine.finish_reason,
        "notice": outcome.notice,
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"\n\n[{engine.generated_tokens} tokens, {stats.client_tokens_per_s:.1f} tokens/s "
            f"(engine {engine.engine_eval_tokens_per_s:.1f}), first token after "
            f"{stats.time_to_first_token_s * 1000:.0f} ms]",
            file=sys.stderr,
        )
    return 0
