"""Runs fuzz cases through `enclave inspect` in one process, fast, one JSON line per case.

`python -m tests.fuzz.inspect_worker SEED NAME FIRST LAST OUTDIR`. Before each case it writes
"start N" to OUTDIR/progress, so when native code kills this process (or it hangs and is
killed) the harness knows which case did it and starts a new worker after it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from tests.fuzz.gguf_layout import read_layout
from tests.fuzz.gguf_mutator import make_case
from tests.fuzz.plain import why_not_plain

# A case takes milliseconds; a busy shared machine can stretch that a hundredfold, not more.
CASE_ALARM_S = 20


class _Hang(BaseException):
    pass


def _on_alarm(_sig: int, _frame: FrameType | None) -> None:
    raise _Hang


def run_case(file: Path, as_json: bool) -> dict[str, object]:
    from app.cli import inspect_cmd

    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    signal.alarm(CASE_ALARM_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = inspect_cmd.run(argparse.Namespace(file=str(file), ctx=None, json=as_json))
    except _Hang:
        return {"outcome": "hang", "seconds": time.perf_counter() - started}
    except BaseException as exc:  # noqa: BLE001 - the point is to catch what escapes
        return {"outcome": "traceback", "error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        signal.alarm(0)
    seconds = time.perf_counter() - started
    if code == 0:
        return {"outcome": "ok", "seconds": seconds}
    message = err.getvalue().strip()
    problem = why_not_plain(message)
    if problem is not None:
        return {"outcome": "unclear", "message": message[:500], "problem": problem}
    return {"outcome": "message", "message": message, "seconds": seconds}


def main() -> int:
    seed, name, first, last, outdir = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
        Path(sys.argv[5]),
    )
    signal.signal(signal.SIGALRM, _on_alarm)
    from app.core import hardware

    # One probe of the machine for all cases: the fuzz is about the file, and NVML per case
    # would be most of the time.
    probed = hardware.detect_hardware()
    hardware.detect_hardware = lambda *a, **k: probed  # type: ignore[assignment]
    layout = read_layout(Path(seed))
    run_case(Path(seed), as_json=False)  # imports and caches warm, outside any case's time
    progress = outdir / "progress"
    results = (outdir / "results.jsonl").open("a", encoding="utf-8")
    file = outdir / f"case-{os.getpid()}.gguf"
    for number in range(first, last):
        case = make_case(layout, name, number)
        progress.write_text(f"start {number}")
        case.write(file)
        result = run_case(file, as_json=number % 2 == 1)
        result.update({"case": number, "seed": name, "what": case.what})
        results.write(json.dumps(result) + "\n")
        results.flush()
    file.unlink(missing_ok=True)
    progress.write_text(f"done {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
