"""`enclave chat MODEL --prompt TEXT [--json]`: one answer through the same engine host the
window uses, with the numbers that tell how fast it was.

`enclave chat --server URL [--server-key KEY] [--model NAME] -p TEXT [--json]` asks a company's
OpenAI-compatible server instead (the remote engine), with the same output. The key comes from
--server-key, else $ENCLAVE_SERVER_KEY, else the key saved for that server in Settings (the OS
keyring). A failure is one plain line and exit code 1; what had arrived of the answer is kept
and marked "[answer cut off]"."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from app.cli.output import fail, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("chat", help="ask a model one question from the terminal")
    parser.add_argument(
        "model", type=Path, nargs="?", default=None,
        help="path to a .gguf model file (else the organisation's default_model)",
    )
    parser.add_argument("--server", metavar="URL", help="ask an OpenAI-compatible server instead")
    parser.add_argument(
        "--server-key", metavar="KEY", help="the server's key (else $ENCLAVE_SERVER_KEY, else the saved one)"
    )
    parser.add_argument(
        "--model", dest="server_model", metavar="NAME", default="", help="the server's model (else its first)"
    )
    parser.add_argument(
        "--stall-timeout", type=float, default=30.0, help="seconds without data before giving up (server)"
    )
    parser.add_argument("--prompt", "-p", required=True, help="the question")
    parser.add_argument(
        "--system", default="", help="an optional system prompt (else the organisation's default_preset's)"
    )
    parser.add_argument("--ctx", type=int, default=None, help="context size in tokens")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--repeat-penalty", type=float, default=1.0, help="1.0 = off")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: physical cores)")
    parser.add_argument(
        "--draft-model", type=Path, metavar="GGUF",
        help="a small model of the same family that drafts tokens (speculative decoding; it pays "
        "on a GPU, not on a CPU with few cores)",
    )
    parser.add_argument("--json", action="store_true", help="print the answer and stats as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.core.engine import protocol as p
    from app.core.engine.client import EngineClient, EngineError
    from app.core.engine.loader import load_model
    from app.core.gguf_facts import GGUFError

    if args.server:
        if args.model is not None:
            return fail("Give either a model file or --server, not both.")
        return _run_remote(args)
    if args.model is None:
        from app.core.policy_rules import find_default_model

        args.model = find_default_model()  # the organisation's default_model, when set
    if args.model is None:
        return fail("Give a model file (enclave chat MODEL.gguf -p ...), or --server URL.")
    if args.server_model:
        return fail("--model names a server's model; give --server URL too.")
    if not args.model.is_file():
        return fail(f"There is no file at {args.model}.")
    if args.draft_model is not None and not args.draft_model.is_file():
        return fail(f"There is no draft model file at {args.draft_model}.")
    client = EngineClient()
    try:
        outcome = load_model(
            client, args.model, wanted_ctx=args.ctx, n_threads=args.threads, draft_model=args.draft_model
        )
        if outcome.notice and not args.json:
            print(outcome.notice, file=sys.stderr)
        messages = _messages(args)
        sampling = p.SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)

        text, stats = client.chat(messages, sampling, on_tokens=None if args.json else _echo)
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
        "draft_tokens_proposed": engine.draft_tokens_proposed,
        "draft_tokens_accepted": engine.draft_tokens_accepted,
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


def _messages(args: argparse.Namespace) -> list[dict[str, str]]:
    system = args.system
    if not system:
        from app.core.policy import current_policy

        if current_policy().default_preset:  # the organisation's preset starts every chat
            from app.core.chat.presets import default_preset

            system = default_preset().system_prompt
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": args.prompt})
    return messages


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _run_remote(args: argparse.Namespace) -> int:
    from app.core.engine import protocol as p
    from app.core.engine.base import EngineError
    from app.core.engine.remote import RemoteEngine

    key = args.server_key or os.environ.get("ENCLAVE_SERVER_KEY") or None
    if key is None:
        from app.core.secrets import get_server_key

        key = get_server_key(args.server)
    try:
        engine = RemoteEngine(args.server, key, args.server_model, stall_timeout_s=args.stall_timeout)
    except EngineError as exc:
        return fail(exc.message)
    sampling = p.SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)
    try:
        if not engine.model:
            models = engine.list_models()
            if not models:
                return fail(f"The server at {engine.where} offers no models.")
            engine.model = models[0]
            if not args.json:
                print(f"Using the server's model “{engine.model}”.", file=sys.stderr)
        text, stats = engine.chat(_messages(args), sampling, on_tokens=None if args.json else _echo)
    except EngineError as exc:
        return _remote_failed(args, engine, exc)
    finally:
        engine.shutdown()
    summary = _remote_summary(engine, text, stats)
    if args.json:
        print_json(summary)
    else:
        server_rate = stats.engine.engine_eval_tokens_per_s
        print(
            f"\n\n[{stats.engine.generated_tokens} tokens, {stats.client_tokens_per_s:.1f} tokens/s"
            + (f" (server {server_rate:.1f})" if server_rate else "")
            + f", first token after {stats.time_to_first_token_s * 1000:.0f} ms, from {engine.where}]",
            file=sys.stderr,
        )
    return 0


def _remote_summary(engine: Any, text: str, stats: Any) -> dict[str, Any]:
    e = stats.engine
    return {
        "model": engine.model,
        "server": engine.where,
        "answer": text,
        "prompt_tokens": e.prompt_tokens,
        "generated_tokens": e.generated_tokens,
        "time_to_first_token_s": round(stats.time_to_first_token_s, 4),
        "client_tokens_per_s": round(stats.client_tokens_per_s, 2),
        "engine_eval_tokens_per_s": round(e.engine_eval_tokens_per_s, 2),
        "engine_prompt_tokens_per_s": round(e.engine_prompt_tokens_per_s, 2),
        "finish_reason": e.finish_reason,
    }


def _remote_failed(args: argparse.Namespace, engine: Any, exc: Any) -> int:
    """What had arrived stays on the screen (marked), then the one-line reason."""
    partial = exc.partial_text
    if args.json:
        print_json(
            {
                "model": engine.model,
                "server": engine.where,
                "answer": partial,
                "cut_off": bool(partial),
                "error": exc.message,
                "error_kind": exc.kind,
            }
        )
    elif partial:
        _echo("\n[answer cut off]\n")
    return fail(exc.message)
