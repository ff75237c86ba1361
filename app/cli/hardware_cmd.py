"""`enclave hardware [--json]`: what this computer offers to run models with."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("hardware", help="show RAM, CPU and GPUs as Enclave sees them")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from app.cli.output import print_json
    from app.core.hardware import detect_hardware

    hardware = detect_hardware()
    if args.json:
        print_json(hardware)
        return 0
    print(f"System:   {hardware.os_name}")
    print(
        f"CPU:      {hardware.cpu_name} "
        f"({hardware.physical_cores} cores, {hardware.logical_cores} threads)"
    )
    print(
        f"RAM:      {_gb(hardware.total_ram_bytes)} total, "
        f"{_gb(hardware.available_ram_bytes)} available"
    )
    if not hardware.gpus:
        print("GPU:      none usable (models run on the CPU)")
    for gpu in hardware.gpus:
        memory = "unified memory" if hardware.unified_memory else "VRAM"
        print(
            f"GPU {gpu.index}:    {gpu.name} [{gpu.backend}] {_gb(gpu.total_bytes)} {memory}, "
            f"{_gb(gpu.free_bytes)} free, driver {gpu.driver}"
        )
    for note in hardware.notes:
        print(f"Note:     {note}")
    return 0


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / 1024**3:.1f} GB"
