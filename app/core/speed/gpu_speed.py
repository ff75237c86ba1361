"""How fast a GPU should be, from the facts its driver publishes (not measured).

NVIDIA cards are described from NVML (memory bus width x memory clock = bandwidth; CUDA cores x
clock = compute), Apple GPUs from the chip's published bandwidth. Untested on a real GPU: the
build machine has none. Measuring a GPU for real would need llama.cpp on that device (ggml's
device list, issue 14 part 4), so every figure here is marked `measured=False`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from app.core.speed.profile import BandwidthPoint, DeviceSpeed

if TYPE_CHECKING:
    from app.core.hardware import GpuInfo, HardwareInfo

log = logging.getLogger("enclave.speed")

_APPLE_BANDWIDTH = (
    ("M4 Max", 546.0), ("M4 Pro", 273.0), ("M4", 120.0),
    ("M3 Ultra", 819.0), ("M3 Max", 400.0), ("M3 Pro", 150.0), ("M3", 100.0),
    ("M2 Ultra", 800.0), ("M2 Max", 400.0), ("M2 Pro", 200.0), ("M2", 100.0),
    ("M1 Ultra", 800.0), ("M1 Max", 400.0), ("M1 Pro", 200.0), ("M1", 68.0),
)  # fmt: skip
GPU_BANDWIDTH_EFFICIENCY = 0.75  # what llama.cpp reaches of a GPU's rated bandwidth (folklore)
GPU_FLOPS_PER_BYTE = 60.0  # compute / bandwidth of typical GPUs, when compute is not known


def gpu_speeds(hardware: HardwareInfo, nvml: Any | None = None) -> tuple[DeviceSpeed, ...]:
    out: list[DeviceSpeed] = []
    for gpu in hardware.gpus:
        try:
            speed = _nvidia_speed(gpu, nvml) if gpu.backend == "cuda" else _apple_speed(gpu)
        except Exception as exc:  # a driver that cannot answer: no speed, never a crash
            log.info("no speed facts for GPU %d: %s", gpu.index, exc)
            speed = None
        if speed is not None:
            out.append(speed)
    return tuple(out)


def _nvidia_speed(gpu: GpuInfo, nvml: Any | None) -> DeviceSpeed | None:
    import importlib

    lib: Any = nvml if nvml is not None else importlib.import_module("pynvml")
    lib.nvmlInit()
    try:
        handle = lib.nvmlDeviceGetHandleByIndex(gpu.index)
        bus_bits = int(lib.nvmlDeviceGetMemoryBusWidth(handle))
        mem_mhz = int(lib.nvmlDeviceGetMaxClockInfo(handle, lib.NVML_CLOCK_MEM))
        # NVML's memory clock is half the data rate (DDR), for GDDR and HBM alike.
        rated = bus_bits / 8 * mem_mhz * 1e6 * 2 / 1e9
        try:
            cores = int(lib.nvmlDeviceGetNumGpuCores(handle))
            sm_mhz = int(lib.nvmlDeviceGetMaxClockInfo(handle, lib.NVML_CLOCK_SM))
            gflops = cores * 2 * sm_mhz / 1e3  # FP32 peak; tensor cores do more, llama.cpp less
            how = f"NVML facts: {bus_bits}-bit bus at {mem_mhz} MHz, {cores} CUDA cores at {sm_mhz} MHz"
        except Exception:
            gflops = rated * GPU_FLOPS_PER_BYTE
            how = f"NVML facts: {bus_bits}-bit bus at {mem_mhz} MHz"
    finally:
        try:
            lib.nvmlShutdown()
        except Exception:
            pass
    if rated <= 0:
        return None
    return DeviceSpeed(
        kind="cuda",
        name=gpu.name,
        index=gpu.index,
        bandwidth=(BandwidthPoint(gpu.total_bytes, rated * GPU_BANDWIDTH_EFFICIENCY),),
        matmul_gflops=gflops * 0.5,
        layer_overhead_ms=0.02,
        measured=False,
        how=how + " (not measured; untested on a real GPU)",
    )


def _apple_speed(gpu: GpuInfo) -> DeviceSpeed | None:
    rated = next((bw for chip, bw in _APPLE_BANDWIDTH if chip in gpu.name), 100.0)
    return DeviceSpeed(
        kind=gpu.backend,
        name=gpu.name,
        index=gpu.index,
        bandwidth=(BandwidthPoint(gpu.total_bytes, rated * GPU_BANDWIDTH_EFFICIENCY),),
        matmul_gflops=rated * GPU_FLOPS_PER_BYTE * 0.5,
        layer_overhead_ms=0.03,
        measured=False,
        how=f"published bandwidth of the chip ({rated:.0f} GB/s; not measured, untested)",
    )
