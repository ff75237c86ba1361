"""The engine host's life as a process: where its output goes, when it exits, how much CPU it
asks for, and how many cores it uses (app/core/engine/host.py runs in it)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

log = logging.getLogger("enclave.engine.host")


def redirect_native_output(log_path: str) -> None:
    """Point fd 1 and 2 (where llama.cpp and ggml print) and Python's streams at the log file."""
    rotate_log(log_path)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    os.close(fd)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stdout = sys.stderr
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        force=True,
    )


LOG_ROTATE_BYTES = 5 * 1024 * 1024


def rotate_log(log_path: str) -> None:
    """Keep one previous log: the engine log must not grow without end."""
    try:
        if os.path.getsize(log_path) > LOG_ROTATE_BYTES:
            os.replace(log_path, log_path + ".1")
    except OSError:
        pass


def watch_parent(parent_pid: int) -> None:
    """Exit when the app is gone, so a killed GUI never leaves a model in memory."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


# "normal" / "below_normal": the engine host's CPU priority, for the benchmark that weighs
# answer speed against the window's smoothness (tests/benchmarks/bench_engine_priority.py).
PRIORITY_ENV = "ENCLAVE_ENGINE_PRIORITY"
DEFAULT_PRIORITY = "below_normal"


def yield_cpu_to_the_window() -> None:
    """Run the model a notch below normal priority. On a 2-core laptop llama.cpp's threads take
    every core; the window then waits for the scheduler and stutters. The window needs little
    CPU, so this costs the model almost nothing and keeps typing and scrolling smooth."""
    if os.environ.get(PRIORITY_ENV, DEFAULT_PRIORITY).lower() == "normal":
        return
    try:
        import psutil

        process = psutil.Process()
        if sys.platform == "win32":
            process.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:
            process.nice(max(process.nice(), 5))
    except Exception:  # a sandbox may forbid it; the app works without
        log.warning("could not lower the engine's priority")


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def tail(path: str, max_bytes: int = 16_000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
