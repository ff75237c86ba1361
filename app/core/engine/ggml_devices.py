"""Every device llama.cpp itself can use, from ggml's own device list.

NVML only sees NVIDIA GPUs. The devices llama.cpp will really use are those its loaded backends
register: CUDA, Vulkan (AMD, Intel, integrated GPUs), Metal, and the CPU. ggml lists them with
their free and total memory (`ggml_backend_dev_*`, which llama-cpp-python does not bind, so they
are called here through ctypes on the same libggml llama_cpp loaded).

Loading backends starts GPU drivers, which can be slow or crash in a broken driver: the window
never does it in its own process. `probe()` runs `list_devices()` in a child
(`python -m app.core.engine.ggml_devices`, or the frozen app with PROBE_ARG) and reads its JSON;
anything going wrong gives an empty list and a note, never an exception.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

PROBE_ARG = "--list-ggml-devices"  # app/__main__.py hands it to main() (frozen app)
PROBE_TIMEOUT_S = 30.0
# ggml_backend_dev_type (ggml-backend.h): CPU, GPU, IGPU (integrated, host memory), ACCEL, META
_TYPES = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel", 4: "meta"}


@dataclass(frozen=True)
class GgmlDevice:
    index: int  # position in ggml's device list (what llama.cpp's main_gpu/tensor_split count)
    name: str  # "Vulkan0", "CUDA0", "CPU"
    description: str  # "AMD Radeon 780M", "llvmpipe (LLVM 15.0.6, 256 bits)"
    kind: str  # "cpu" | "gpu" | "igpu" | "accel" | "meta"
    backend: str  # "vulkan" | "cuda" | "metal" | "cpu" | ...
    free_bytes: int
    total_bytes: int

    @property
    def is_gpu(self) -> bool:
        return self.kind in ("gpu", "igpu")


def _backend_of(name: str) -> str:
    lowered = name.lower()
    for backend in ("vulkan", "cuda", "metal", "hip", "sycl", "opencl", "musa", "cann", "blas", "rpc"):
        if lowered.startswith(backend):
            return backend
    return "cpu" if lowered.startswith("cpu") else lowered.rstrip("0123456789")


def list_devices() -> list[GgmlDevice]:
    """ggml's devices in this process (loads the backends first). For the child of `probe()`."""
    from app.core.engine.backends import ggml_library, load_backends

    load_backends()
    ggml = ggml_library()
    count = ggml["ggml_backend_dev_count"]
    count.restype = ctypes.c_size_t
    get = ggml["ggml_backend_dev_get"]
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    name = ggml["ggml_backend_dev_name"]
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    description = ggml["ggml_backend_dev_description"]
    description.restype, description.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    kind = ggml["ggml_backend_dev_type"]
    kind.restype, kind.argtypes = ctypes.c_int, [ctypes.c_void_p]
    memory = ggml["ggml_backend_dev_memory"]
    memory.restype = None
    memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
    found = []
    for i in range(int(count())):
        device = get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        memory(device, ctypes.byref(free), ctypes.byref(total))
        dev_name = (name(device) or b"").decode("utf-8", "replace")
        found.append(
            GgmlDevice(
                index=i,
                name=dev_name,
                description=(description(device) or b"").decode("utf-8", "replace"),
                kind=_TYPES.get(int(kind(device)), "unknown"),
                backend=_backend_of(dev_name),
                free_bytes=int(free.value),
                total_bytes=int(total.value),
            )
        )
    return found


def backend_installed(backend: str) -> bool:
    """Whether llama.cpp's loadable `backend` library is there (libggml-vulkan.so, ...)."""
    from app.core.engine.backends import lib_names, search_dirs

    prefix, ext = lib_names()
    return any((folder / f"{prefix}{backend}{ext}").is_file() for folder in search_dirs())


_cache: tuple[float, list[GgmlDevice], str] | None = None
CACHE_S = 30.0  # free memory moves; the list of devices does not


def cached_probe() -> tuple[list[GgmlDevice], str]:
    """`probe()`, at most once per CACHE_S in this process."""
    global _cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > CACHE_S:
        devices, note = probe()
        _cache = (now, devices, note)
    return _cache[1], _cache[2]


def probe(timeout_s: float = PROBE_TIMEOUT_S) -> tuple[list[GgmlDevice], str]:
    """(devices, note) from a child process; note says in plain words why the list is empty."""
    if getattr(sys, "frozen", False):
        argv = [sys.executable, PROBE_ARG]
    else:
        argv = [sys.executable, "-m", "app.core.engine.ggml_devices"]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False, env=os.environ.copy()
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("ggml device probe failed: %s", exc)
        return [], f"the GPU check did not finish ({type(exc).__name__})"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        log.warning("ggml device probe exited %s: %s", done.returncode, done.stderr[-800:])
        return [], f"the GPU check stopped (exit {done.returncode})"
    try:
        raw = json.loads(lines[-1])
        return [GgmlDevice(**entry) for entry in raw["devices"]], ""
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ggml device probe answered something unreadable: %s", exc)
        return [], "the GPU check answered something unreadable"


def main() -> int:
    logging.disable(logging.CRITICAL)  # stdout carries one JSON line; ggml logs go to stderr
    devices = list_devices()
    print(json.dumps({"devices": [asdict(d) for d in devices]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
