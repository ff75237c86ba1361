"""Start time: command to first window shown, median of 5. Target < 1.5 s on this machine.

Baseline in the same run: a bare PySide6 program that shows an empty QMainWindow, measured
the same way, so the ratio says what Enclave adds on top of Qt itself.

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

BARE_QT = r"""
import time, sys
from PySide6.QtWidgets import QApplication, QMainWindow
from PySide6.QtCore import QTimer
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.resize(1100, 760)
def report():
    import psutil
    print(f"window shown after {time.time() - psutil.Process().create_time():.3f} s", flush=True)
    w.close()
QTimer.singleShot(0, report)
w.show()
app.exec()
"""


def measure(command: list[str], env: dict[str, str]) -> float:
    """Seconds from the process's creation (the OS's clock) to its first window on screen."""
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True)
    match = re.search(r"window shown after ([0-9.]+) s", result.stdout)
    if not match:
        raise RuntimeError(result.stdout + result.stderr)
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    env["ENCLAVE_HOME"] = tempfile.mkdtemp(prefix="enclave-bench-")
    enclave = [sys.executable, "-m", "app", "gui", "--exit-after-show"]
    bare = [sys.executable, "-c", BARE_QT]
    measure(enclave, env)  # warm the OS file cache once
    app_times = [measure(enclave, env) for _ in range(args.runs)]
    bare_times = [measure(bare, env) for _ in range(args.runs)]
    app_median, bare_median = statistics.median(app_times), statistics.median(bare_times)
    print(f"enclave: median {app_median:.3f} s ({', '.join(f'{t:.3f}' for t in app_times)})")
    print(f"bare Qt window: median {bare_median:.3f} s ({', '.join(f'{t:.3f}' for t in bare_times)})")
    print(f"ratio enclave / bare Qt: {app_median / bare_median:.2f}")


if __name__ == "__main__":
    main()
