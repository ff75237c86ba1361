"""`python -m app` = `enclave`: no argument opens the window, a subcommand runs the CLI."""

from __future__ import annotations

import os

# No telemetry, for the whole process and its children, from its first line: huggingface_hub
# reads this once, when it is imported, wherever that happens (search, cards, downloads).
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# Nor does it pick up a token on its own (HF_TOKEN, its token file): app/core/net/tokens.py
# decides what goes, and only the user's own token, only where a repo asks for it.
os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
# onnxruntime (document embeddings, OCR) ships Microsoft's 1DS telemetry, which on Linux too
# looks up and posts to mobile.events.data.microsoft.com from its own threads: off, read when
# its environment starts (found by tests/privacy/test_no_egress.py: DNS queries from
# onnxruntime_pybind11_state's threads during indexing).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

import multiprocessing  # noqa: E402 (after the line above, on purpose)
import sys  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    # The engine host is a "spawn" child; a frozen app must not re-run main() in it.
    multiprocessing.freeze_support()
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--check-ggml-cpu-variant"]:  # the frozen app's child for engine.variant_check
        from app.core.engine.variant_check import check_main

        return check_main(args[1:])
    if args[:1] == ["--list-ggml-devices"]:  # the frozen app's child for engine.ggml_devices
        from app.core.engine.ggml_devices import main as list_devices_main

        return list_devices_main()
    if not args or args[0].startswith("-psn_"):  # macOS Finder passes -psn_... on launch
        from app.ui.launch import run_gui

        return run_gui([])
    if args[0] == "gui":
        from app.ui.launch import run_gui

        return run_gui(args[1:])
    from app.cli import run_cli

    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
