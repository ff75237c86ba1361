"""Where the machine benchmark's result is kept, and how the window gets one.

The profile is cached per machine (CPU, cores, RAM, GPUs, llama.cpp version: `machine_key`) in
the cache folder, or pinned to a file (ENCLAVE_SPEED_PROFILE) that is used as is on any machine.
This process remembers what it loaded, so every label in the window reads the same profile
without touching the disk. The window never measures in its own process: `measure_in_child`
runs `enclave bench` in a child, so that native code never runs in the GUI process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import paths
from app.core.speed.profile import MachineProfile

if TYPE_CHECKING:
    from app.core.hardware import HardwareInfo

log = logging.getLogger("enclave.speed")

BENCH_VERSION = 4  # 3: prompt GFLOP/s per tensor type; 4: one-token speed per type (older: measured again)
CACHE_NAME = "machine-speed.json"
# A profile file to use instead of the cache, whatever machine it was measured on: tests pin
# one, and an administrator can hand one to identical machines.
PROFILE_ENV = "ENCLAVE_SPEED_PROFILE"


def llama_version() -> str:
    try:
        from importlib.metadata import version

        return version("llama-cpp-python")
    except Exception:
        return ""


def machine_key(hardware: HardwareInfo) -> str:
    """Same key = same machine for speed: CPU, cores, RAM, GPUs, llama.cpp version."""
    identity = {
        "bench": BENCH_VERSION,
        "cpu": hardware.cpu_name,
        "cores": [hardware.physical_cores, hardware.logical_cores],
        "ram_gib": round(hardware.total_ram_bytes / 1024**3),
        "gpus": [[g.name, g.backend, g.total_bytes] for g in hardware.gpus],
        "llama": llama_version(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def pinned() -> bool:
    """A profile file is pinned (ENCLAVE_SPEED_PROFILE): used as is, on any machine."""
    return bool(os.environ.get(PROFILE_ENV))


def cache_file() -> Path:
    pinned = os.environ.get(PROFILE_ENV)
    return Path(pinned) if pinned else paths.cache_dir() / CACHE_NAME


def save_profile(profile: MachineProfile, path: Path | None = None) -> None:
    path = path or cache_file()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(profile.to_dict(), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    with _memo_lock:
        _memo[path] = profile


def load_profile(hardware: HardwareInfo | None = None, path: Path | None = None) -> MachineProfile | None:
    """The cached profile if it was measured on this machine (None: measure first)."""
    path = path or cache_file()
    try:
        profile = MachineProfile.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("machine speed cache unreadable (%s); measuring again", exc)
        return None
    if pinned():
        # Used as is, whatever machine or version made it: an older profile still reads (one
        # matrix figure for every tensor type), and measuring must not overwrite a test's file.
        return profile
    if profile.version != BENCH_VERSION:
        return None  # an older benchmark's cache: measured again
    if hardware is not None and profile.machine_key != machine_key(hardware):
        return None
    return profile


_memo: dict[Path, MachineProfile] = {}
_memo_lock = threading.Lock()


def cached_profile() -> MachineProfile | None:
    """The profile this process knows for the current cache file; never measures."""
    path = cache_file()
    with _memo_lock:
        if path not in _memo:
            profile = load_profile(path=path)
            if profile is None:
                return None
            _memo[path] = profile
        return _memo[path]


def remember(profile: MachineProfile) -> None:
    with _memo_lock:
        _memo[cache_file()] = profile


def forget() -> None:
    """Drop what this process remembers (after "measure again", and in tests)."""
    with _memo_lock:
        _memo.clear()


def bench_command() -> list[str]:
    """`enclave bench --json --save` in a child: this interpreter, or the frozen app itself."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "bench", "--json", "--save"]
    return [sys.executable, "-m", "app", "bench", "--json", "--save"]


def measure_in_child(timeout_s: float = 60.0) -> MachineProfile:
    """Run the benchmark in a child process (native code never in the window's process) and
    keep its result. Raises RuntimeError in plain words when it could not run."""
    env = {**os.environ}
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    try:
        done = subprocess.run(
            bench_command(), capture_output=True, text=True, timeout=timeout_s, env=env,
            stdin=subprocess.DEVNULL, creationflags=flags, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"The speed measurement could not run ({exc}).") from exc
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"The speed measurement failed ({tail[0]}).")
    profile = MachineProfile.from_dict(json.loads(done.stdout))
    remember(profile)
    return profile
