"""Command-line interface: `enclave <command>`.

Each command lives in its own module under app/cli/ and exposes
`register(subparsers) -> None`; the module must import heavy things (llama_cpp,
huggingface_hub, numpy...) inside its handler so `enclave --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from app import __version__

# Modules that add subcommands, in the order they appear in --help.
COMMAND_MODULES = [
    "app.cli.hardware_cmd",
    "app.cli.inspect_cmd",
    "app.cli.chat_cmd",
    "app.cli.serve_cmd",
    "app.cli.models_cmd",
    "app.cli.documents_cmd",
    "app.cli.selftest_cmd",
    "app.cli.bench_cmd",
    "app.cli.policy_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enclave",
        description="Run language models locally. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"enclave {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = subparsers.add_parser("gui", help="open the window (the default)")
    gui.set_defaults(handler=None)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command area not built yet
        module.register(subparsers)
    return parser


def run_cli(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    _say_policy_problems(args.command)
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


def _say_policy_problems(command: str) -> None:
    """A policy Enclave could not read is never silent: one line on every command (the
    strictest settings apply meanwhile); `enclave policy` itself says it in full."""
    if command == "policy":
        return
    from app.core.policy import current_policy

    if current_policy().problems:
        print(
            "enclave: your organisation's policy could not be read in full, so the strictest "
            "settings apply. See: enclave policy",
            file=sys.stderr,
        )
