"""`enclave serve --model FILE.gguf`: serve a model to other programs (OpenAI-compatible API)
until Ctrl+C, through the same engine service and queue the window uses."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from app.cli.output import fail


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a model to other programs (OpenAI-compatible API on this computer)"
    )
    parser.add_argument("--model", "-m", type=Path, required=True, help="path to a .gguf model file")
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0: the network too)",
    )
    parser.add_argument("--port", type=int, default=8642, help="port (default 8642; 0: any free port)")
    parser.add_argument(
        "--api-key", default=None,
        help="the key clients must send (default: $ENCLAVE_API_KEY, else the one saved by Enclave)",
    )
    parser.add_argument("--ctx", type=int, default=None, help="context size in tokens")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: physical cores)")
    parser.add_argument(
        "--draft-model", type=Path, metavar="GGUF",
        help="a small model of the same family that drafts tokens (speculative decoding; it pays "
        "on a GPU, not on a CPU with few cores)",
    )
    parser.add_argument("--max-waiting", type=int, default=None, help="requests that may wait (then 429)")
    parser.set_defaults(handler=run)


def _say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    from app.core.api.auth import resolve_api_key
    from app.core.api.server import ApiServer, ApiServerError
    from app.core.calls import CallQueue
    from app.core.engine.service import EngineService
    from app.core.policy_rules import api_refusal, model_refusal

    refusal = api_refusal(args.host) or model_refusal(args.model)  # before any slow work
    if refusal:
        return fail(refusal)
    if not args.model.is_file():
        return fail(f"There is no model file at {args.model}.")
    if args.model.suffix.lower() != ".gguf":
        return fail(f"{args.model.name} is not a GGUF model file (its name should end in .gguf).")
    if not 0 <= args.port <= 65535:
        return fail("The port must be a number from 0 to 65535.")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("enclave.api").setLevel(logging.INFO)  # one line per request, no text

    calls = CallQueue()
    service = EngineService(call_soon=calls, max_waiting_api=args.max_waiting)
    server: ApiServer | None = None
    stop = threading.Event()
    previous = _on_signals(lambda: stop.set())
    try:
        failure = _load(service, calls, args, stop)
        if failure is not None:
            return failure
        if stop.is_set():
            _say("Stopped.")
            return 0
        key = resolve_api_key(args.api_key)
        server = ApiServer(service, args.host, args.port, key.key)
        try:
            server.start()
        except ApiServerError as exc:
            return fail(str(exc))
        _say(f"Serving {service.model_name} at {server.base_url} (OpenAI-compatible; Ctrl+C stops).")
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            _say(f"Listening on {args.host}: other computers on the network can use it with the key.")
        if key.generated:
            where = "saved in your computer's password store" if key.saved else "valid until this stops"
            _say(f"API key (shown once, {where}): {key.key}")
        else:
            _say(f"API key: the one from {_source_words(key.source)}.")
        while not stop.is_set() and server.running:
            calls.run_pending(timeout=0.2)  # the service's events (a crash report...)
        _say("Stopping…")
        return 0
    finally:
        if server is not None:
            server.stop()
        service.shutdown()
        _restore_signals(previous)


def _load(service: Any, calls: Any, args: argparse.Namespace, stop: threading.Event) -> int | None:
    """Load the model through the service; an exit code on failure, None when loaded."""
    from app.core.engine.base import EngineError
    from app.core.gguf_facts import GGUFError

    failed: list[BaseException] = []
    service.load_failed.connect(failed.append)
    _say(f"Loading {args.model.name}…")
    job = service.load(args.model, args.ctx or 0, n_threads=args.threads, draft_model=args.draft_model)
    while service.is_loading and not stop.is_set():
        calls.run_pending(timeout=0.1)
    if stop.is_set():
        job.cancel()
        return None
    if failed:
        exc = failed[0]
        if isinstance(exc, (GGUFError, EngineError)):
            tail = getattr(exc, "log_tail", "")
            return fail(str(exc) + (f"\nLast engine log lines:\n{tail}" if tail else ""))
        return fail(f"{args.model.name} could not be loaded: {exc}")
    if not service.is_ready:
        return fail(f"{args.model.name} could not be loaded.")
    notice = getattr(service.plan, "summary", "")
    if notice:
        _say(notice)
    return None


def _source_words(source: str) -> str:
    return {
        "option": "--api-key",
        "environment": "ENCLAVE_API_KEY",
        "keyring": "your computer's password store (Enclave's Settings shows it)",
    }.get(source, source)


def _on_signals(handler: Any) -> dict[int, Any]:
    """Ctrl+C and SIGTERM end serving cleanly (the engine host is stopped, not orphaned)."""
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, lambda _s, _f: handler())
        except (ValueError, OSError):  # not the main thread (tests calling run() directly)
            pass
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        try:
            signal.signal(sig, old)
        except (ValueError, OSError):
            pass
