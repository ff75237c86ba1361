"""Small helpers shared by CLI commands: JSON output and plain-words errors."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def print_json(value: Any) -> None:
    try:
        json.dump(to_jsonable(value), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `enclave ... --json | head`: the reader left, that is fine
        sys.stderr.close()


def fail(message: str, code: int = 1) -> int:
    """Print a plain-words error (no traceback) and return the exit code."""
    print(f"enclave: {message}", file=sys.stderr)
    return code
