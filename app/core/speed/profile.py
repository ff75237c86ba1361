"""What the machine benchmark (machine_bench.py) found, as data: each device's speed facts
(memory bandwidth by working-set size, matrix throughput, per-type prompt and one-token
figures) and the machine's profile, with its JSON form for the cache file. No measuring here:
predict.py reads these, machine_bench.py fills them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BandwidthPoint:
    size_bytes: int
    gb_per_s: float


@dataclass(frozen=True)
class DeviceSpeed:
    """One device's speed facts. kind: cpu | cuda | metal | vulkan."""

    kind: str
    name: str
    index: int = -1  # HardwareInfo.gpus index; -1 for the CPU
    bandwidth: tuple[BandwidthPoint, ...] = ()  # read GB/s by working-set size
    # Effective GFLOP/s of llama.cpp's prompt evaluation: on the CPU the median of
    # `prompt_gflops`, what a tensor type without a figure gets.
    matmul_gflops: float = 0.0
    layer_overhead_ms: float = 0.0  # fixed cost per layer and token beyond `matvec_gb_per_s`
    # Weight bytes llama.cpp's one-token kernels get through per second when memory is not the
    # limit (weights in cache): dequantizing and the dot products, thread hand-offs included.
    # On a few cores this, not memory, is what limits writing. 0: not measured (memory only).
    matvec_gb_per_s: float = 0.0
    measured: bool = True
    how: str = ""
    # Prompt GFLOP/s per llama.cpp tensor type ("Q4_K", 141.0), measured on the prompt probe;
    # empty: one figure (`matmul_gflops`) for every type (GPUs, profiles before version 3).
    prompt_gflops: tuple[tuple[str, float], ...] = ()
    # Nanoseconds each attention score costs beyond its multiply-adds at the F16 figure (scale,
    # mask, softmax, conversions: llama.cpp without flash attention), from the attention probe.
    attention_ns: float = 0.0
    # Weight bytes per second of llama.cpp's one-token kernels per tensor type ("Q8_0", 15.1),
    # from the decode probe, and the fixed cost of every token (`layer_overhead_ms` is the one
    # of every layer); empty: `matvec_gb_per_s` for every type (GPUs, profiles before version 4).
    decode_gb_per_s: tuple[tuple[str, float], ...] = ()
    token_overhead_ms: float = 0.0

    def decode_rate_for(self, type_name: str) -> float:
        """One-token GB/s for weights of this type: its own figure, the nearest measured type's,
        else the slowest measured (0.0 without a table)."""
        from app.core.speed.quant_types import measured_type

        table = dict(self.decode_gb_per_s)
        return table.get(measured_type(type_name)) or min(table.values(), default=0.0)

    def gflops_for(self, type_name: str) -> float:
        """Prompt GFLOP/s for weights of this tensor type: its own figure, the nearest measured
        type's (quant_types.NEAREST), else `matmul_gflops`."""
        from app.core.speed.quant_types import measured_type

        table = dict(self.prompt_gflops)
        return table.get(measured_type(type_name)) or self.matmul_gflops

    def read_gb_per_s(self, working_set: int) -> float:
        """Bandwidth for a working set of this size: the curve, log-interpolated, clamped."""
        points = sorted(self.bandwidth, key=lambda p: p.size_bytes)
        if not points:
            return 0.0
        if working_set <= points[0].size_bytes:
            return points[0].gb_per_s
        for low, high in zip(points, points[1:], strict=False):
            if working_set <= high.size_bytes:
                span = math.log(high.size_bytes / low.size_bytes)
                t = math.log(working_set / low.size_bytes) / span if span else 1.0
                return low.gb_per_s + t * (high.gb_per_s - low.gb_per_s)
        return points[-1].gb_per_s

    @property
    def sustained_gb_per_s(self) -> float:
        """Bandwidth beyond every cache: what a large model gets."""
        return max(self.bandwidth, key=lambda p: p.size_bytes).gb_per_s if self.bandwidth else 0.0


_TABLES = ("prompt_gflops", "decode_gb_per_s")  # per-type figures, {type: figure} in the file


@dataclass(frozen=True)
class MachineProfile:
    version: int
    machine_key: str
    measured_at: float  # time.time()
    seconds: float  # how long the benchmark took
    threads: int
    cpu: DeviceSpeed
    gpus: tuple[DeviceSpeed, ...] = ()
    notes: tuple[str, ...] = ()
    llama_version: str = ""
    prepare_seconds: float = 0.0  # writing the prompt probe's files (first run only), not in `seconds`

    def gpu(self, index: int) -> DeviceSpeed | None:
        return next((g for g in self.gpus if g.index == index), None)

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        for device in (raw["cpu"], *raw["gpus"]):  # {"Q4_K": 141.0, ...}: readable in the file
            for key in _TABLES:
                device[key] = {name: figure for name, figure in device[key]}
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MachineProfile:
        def device(d: dict[str, Any]) -> DeviceSpeed:
            curve = tuple(BandwidthPoint(int(p["size_bytes"]), float(p["gb_per_s"])) for p in d["bandwidth"])
            tables = {}
            for key in _TABLES:
                table = d.get(key) or {}
                pairs = table.items() if isinstance(table, dict) else table
                tables[key] = tuple((str(name), float(figure)) for name, figure in pairs)
            return DeviceSpeed(**{**d, "bandwidth": curve, **tables})

        return cls(
            version=int(raw["version"]),
            machine_key=str(raw["machine_key"]),
            measured_at=float(raw["measured_at"]),
            seconds=float(raw["seconds"]),
            threads=int(raw["threads"]),
            cpu=device(raw["cpu"]),
            gpus=tuple(device(g) for g in raw.get("gpus", ())),
            notes=tuple(raw.get("notes", ())),
            llama_version=str(raw.get("llama_version", "")),
            prepare_seconds=float(raw.get("prepare_seconds", 0.0)),
        )


# --- measuring --------------------------------------------------------------------------------
