"""What this computer has to run a model with: RAM, CPU cores, GPUs.

NVIDIA GPUs are read through NVML (the `pynvml` module of nvidia-ml-py), the same library
`nvidia-smi` uses; it ships with the driver, so "no driver" shows up as "no NVML library".
When llama.cpp has a Vulkan backend (AMD, Intel and integrated GPUs), ggml's own device list
(app/core/engine/ggml_devices.py, probed in a child process) adds the GPUs NVML cannot see.
Apple Silicon has no separate VRAM: the GPU shares RAM, and Metal lets one process wire only
part of it (llama.cpp reads `recommendedMaxWorkingSetSize`), so we report one "metal" GPU with
that share. Anything going wrong while probing GPUs gives a CPU-only answer with a note: the
app must still start and offer CPU models on a machine with a broken driver.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import psutil

from app.core.i18n import translate

log = logging.getLogger(__name__)

GIB = 1024**3


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    total_bytes: int
    free_bytes: int
    driver: str
    backend: str  # "cuda" | "metal" | "vulkan"
    # An integrated GPU (Vulkan's "igpu"): its memory is the computer's RAM, shared.
    integrated: bool = False


@dataclass(frozen=True)
class HardwareInfo:
    total_ram_bytes: int
    available_ram_bytes: int
    physical_cores: int
    logical_cores: int
    cpu_name: str
    os_name: str
    gpus: tuple[GpuInfo, ...]
    unified_memory: bool
    notes: tuple[str, ...]

    def best_gpu(self) -> GpuInfo | None:
        """The GPU with the most free memory (llama.cpp's main device for a single-GPU plan)."""
        if not self.gpus:
            return None
        return max(self.gpus, key=lambda g: (g.free_bytes, -g.index))


def detect_hardware(nvml: ModuleType | None = None) -> HardwareInfo:
    """Probe the machine. Never raises because of a GPU driver problem.

    `nvml` replaces the `pynvml` module (tests pass a fake one).
    """
    notes: list[str] = []
    mem = psutil.virtual_memory()
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    gpus: tuple[GpuInfo, ...]
    unified = _is_apple_silicon()
    if unified:
        gpus = (_apple_gpu(int(mem.total), int(mem.available)),)
    else:
        gpus = _nvidia_gpus(nvml, notes)
        gpus = gpus + _vulkan_gpus(gpus, notes)
    return HardwareInfo(
        total_ram_bytes=int(mem.total),
        available_ram_bytes=int(mem.available),
        physical_cores=int(physical),
        logical_cores=int(logical),
        cpu_name=_cpu_name(),
        os_name=_os_name(),
        gpus=gpus,
        unified_memory=unified,
        notes=tuple(notes),
    )


# --- NVIDIA -----------------------------------------------------------------------------------


def _load_nvml(notes: list[str]) -> Any | None:
    try:
        return importlib.import_module("pynvml")
    except Exception:  # ImportError, or a broken install raising anything at import
        notes.append(
            translate("hardware", "The NVIDIA GPU library (nvidia-ml-py) is not installed; using the CPU.")
        )
        return None


def _nvidia_gpus(nvml: ModuleType | None, notes: list[str]) -> tuple[GpuInfo, ...]:
    lib: Any = nvml if nvml is not None else _load_nvml(notes)
    if lib is None:
        return ()
    try:
        lib.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        log.info("NVML init failed: %s", exc)
        notes.append(translate("hardware", "No NVIDIA GPU driver found; the model will run on the CPU."))
        return ()
    try:
        return _read_nvidia(lib, notes)
    except Exception as exc:
        log.warning("NVML query failed: %s", exc)
        notes.append(
            translate(
                "hardware", "Could not read the NVIDIA GPU ({reason}); models will run on the CPU."
            ).format(reason=_text(exc))
        )
        return ()
    finally:
        # Shutting down a half-initialised NVML cannot be helped and must not crash.
        with contextlib.suppress(Exception):
            lib.nvmlShutdown()


def _read_nvidia(lib: Any, notes: list[str]) -> tuple[GpuInfo, ...]:
    driver = _text(lib.nvmlSystemGetDriverVersion())
    count = int(lib.nvmlDeviceGetCount())
    gpus: list[GpuInfo] = []
    for index in range(count):
        # One bad device (fallen off the bus, in a MIG mode we can't read) should not hide
        # the others.
        try:
            handle = lib.nvmlDeviceGetHandleByIndex(index)
            name = _text(lib.nvmlDeviceGetName(handle))
            memory = lib.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=name,
                    total_bytes=int(memory.total),
                    free_bytes=int(memory.free),
                    driver=driver,
                    backend="cuda",
                )
            )
        except Exception as exc:
            log.warning("NVML device %d unreadable: %s", index, exc)
            notes.append(
                translate("hardware", "GPU {number} could not be read ({reason}) and is left out.").format(
                    number=index, reason=_text(exc)
                )
            )
    if count == 0:
        notes.append(
            translate("hardware", "The NVIDIA driver reports no GPU; the model will run on the CPU.")
        )
    return tuple(gpus)


# --- Vulkan (ggml's device list) ----------------------------------------------------------


def _vulkan_gpus(nvidia: tuple[GpuInfo, ...], notes: list[str]) -> tuple[GpuInfo, ...]:
    """GPUs llama.cpp's Vulkan backend will use that NVML did not already report."""
    from app.core.engine import ggml_devices

    if not ggml_devices.backend_installed("vulkan"):
        return ()  # a build without the Vulkan backend: nothing to ask, no child started
    devices, note = ggml_devices.cached_probe()
    if note:
        notes.append(
            translate("hardware", "Other graphics cards could not be checked ({reason}).").format(reason=note)
        )
    known = {g.name.lower() for g in nvidia}
    found = []
    for device in devices:
        if device.backend != "vulkan" or not device.is_gpu or device.description.lower() in known:
            continue
        found.append(
            GpuInfo(
                index=device.index,
                name=device.description or device.name,
                total_bytes=device.total_bytes,
                free_bytes=device.free_bytes,
                driver="Vulkan",
                backend="vulkan",
                integrated=device.kind == "igpu",
            )
        )
    return tuple(found)


def _text(value: object) -> str:
    """NVML returns bytes in old pynvml versions and str in new ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# --- Apple Silicon ----------------------------------------------------------------------------


def _is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def apple_gpu_budget(total_ram_bytes: int) -> int:
    """Memory Metal lets one process use, like `recommendedMaxWorkingSetSize`.

    macOS reports about 2/3 of RAM on small machines and about 3/4 on larger ones (the rest
    stays for the OS and other apps, since it is the same memory).
    """
    fraction = 2 / 3 if total_ram_bytes <= 36 * GIB else 3 / 4
    return int(total_ram_bytes * fraction)


def _apple_gpu(total_ram: int, available_ram: int) -> GpuInfo:
    usable = apple_gpu_budget(total_ram)
    return GpuInfo(
        index=0,
        name=f"{_cpu_name()} GPU (unified memory)",
        total_bytes=usable,
        free_bytes=min(usable, available_ram),
        driver=f"macOS {platform.mac_ver()[0]}".strip(),
        backend="metal",
    )


# --- CPU and OS -------------------------------------------------------------------------------


def _cpu_name() -> str:
    name = ""
    if sys.platform.startswith("linux"):
        name = _linux_cpu_name()
    elif sys.platform == "darwin":
        name = _run(["sysctl", "-n", "machdep.cpu.brand_string"])
    if not name:
        name = platform.processor() or platform.machine() or "Unknown CPU"
    return " ".join(name.split())


def _linux_cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                # x86 says "model name"; some ARM kernels only say "Hardware" or "Model".
                if key.strip() in ("model name", "Hardware", "Model"):
                    return value.strip()
    except OSError:
        pass
    return ""


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def _os_name() -> str:
    if sys.platform == "darwin":
        return f"macOS {platform.mac_ver()[0]}".strip()
    if sys.platform.startswith("win"):
        return f"Windows {platform.release()}"
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        pretty = None
    return pretty or f"{platform.system()} {platform.release()}"
