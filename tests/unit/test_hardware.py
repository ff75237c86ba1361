"""Hardware detection: NVML present, absent, or broken must never crash the app."""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from app.core import hardware
from app.core.hardware import GpuInfo, HardwareInfo, detect_hardware

GIB = 1024**3


class FakeNVMLError(Exception):
    pass


class FakeModule(ModuleType):
    calls: dict[str, int]


def fake_nvml(
    gpus: list[tuple[str, int, int]],
    *,
    init_error: bool = False,
    query_error: bool = False,
    bad_index: int | None = None,
    as_bytes: bool = False,
) -> FakeModule:
    """A module shaped like pynvml: (name, total, free) per GPU."""
    module = FakeModule("fake_pynvml")
    calls: dict[str, int] = {"init": 0, "shutdown": 0}

    def text(value: str) -> Any:
        return value.encode() if as_bytes else value

    def nvmlInit() -> None:
        calls["init"] += 1
        if init_error:
            raise FakeNVMLError("NVML Shared Library Not Found")

    def nvmlShutdown() -> None:
        calls["shutdown"] += 1

    def nvmlSystemGetDriverVersion() -> Any:
        if query_error:
            raise FakeNVMLError("Unknown Error")
        return text("550.54.15")

    def nvmlDeviceGetCount() -> int:
        return len(gpus)

    def nvmlDeviceGetHandleByIndex(index: int) -> int:
        if index == bad_index:
            raise FakeNVMLError("GPU is lost")
        return index

    def nvmlDeviceGetName(handle: int) -> Any:
        return text(gpus[handle][0])

    def nvmlDeviceGetMemoryInfo(handle: int) -> SimpleNamespace:
        _, total, free = gpus[handle]
        return SimpleNamespace(total=total, free=free, used=total - free)

    for fn in (
        nvmlInit,
        nvmlShutdown,
        nvmlSystemGetDriverVersion,
        nvmlDeviceGetCount,
        nvmlDeviceGetHandleByIndex,
        nvmlDeviceGetName,
        nvmlDeviceGetMemoryInfo,
    ):
        setattr(module, fn.__name__, fn)
    module.calls = calls
    return module


@pytest.fixture(autouse=True)
def not_apple(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "_is_apple_silicon", lambda: False)


def test_basic_facts_are_sane() -> None:
    info = detect_hardware(fake_nvml([]))
    assert info.total_ram_bytes > 0
    assert 0 < info.available_ram_bytes <= info.total_ram_bytes
    assert info.logical_cores >= info.physical_cores >= 1
    assert info.cpu_name and info.os_name
    assert not info.unified_memory


def test_nvml_not_installed_gives_cpu_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    info = detect_hardware()
    assert info.gpus == ()
    assert info.best_gpu() is None
    assert any("not installed" in note for note in info.notes)


def test_no_driver_gives_cpu_answer() -> None:
    nvml = fake_nvml([("X", GIB, GIB)], init_error=True)
    info = detect_hardware(nvml)
    assert info.gpus == ()
    assert any("No NVIDIA GPU driver" in note for note in info.notes)


def test_nvml_error_during_query_gives_cpu_answer_and_shuts_down() -> None:
    nvml = fake_nvml([("X", GIB, GIB)], query_error=True)
    info = detect_hardware(nvml)
    assert info.gpus == ()
    assert any("Could not read" in note for note in info.notes)
    assert nvml.calls == {"init": 1, "shutdown": 1}


def test_one_gpu() -> None:
    nvml = fake_nvml([("NVIDIA GeForce RTX 4070", 12 * GIB, 11 * GIB)], as_bytes=True)
    info = detect_hardware(nvml)
    assert info.gpus == (
        GpuInfo(0, "NVIDIA GeForce RTX 4070", 12 * GIB, 11 * GIB, "550.54.15", "cuda"),
    )
    assert info.best_gpu() == info.gpus[0]
    assert info.notes == ()


def test_two_gpus_best_is_most_free() -> None:
    nvml = fake_nvml([("RTX 3060", 12 * GIB, 3 * GIB), ("RTX 4090", 24 * GIB, 20 * GIB)])
    info = detect_hardware(nvml)
    assert [g.name for g in info.gpus] == ["RTX 3060", "RTX 4090"]
    assert [g.index for g in info.gpus] == [0, 1]
    best = info.best_gpu()
    assert best is not None and best.index == 1


def test_one_broken_gpu_does_not_hide_the_other() -> None:
    nvml = fake_nvml([("A", 8 * GIB, 8 * GIB), ("B", 8 * GIB, 7 * GIB)], bad_index=0)
    info = detect_hardware(nvml)
    assert [g.name for g in info.gpus] == ["B"]
    assert any("GPU 0" in note for note in info.notes)


def test_driver_with_zero_gpus() -> None:
    info = detect_hardware(fake_nvml([]))
    assert info.gpus == ()
    assert any("no GPU" in note for note in info.notes)


def test_apple_silicon_reports_unified_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "_is_apple_silicon", lambda: True)
    info = detect_hardware(fake_nvml([("never asked", GIB, GIB)], init_error=True))
    assert info.unified_memory
    assert len(info.gpus) == 1
    gpu = info.gpus[0]
    assert gpu.backend == "metal"
    assert info.total_ram_bytes * 0.6 < gpu.total_bytes <= info.total_ram_bytes * 0.75 + 1
    assert gpu.free_bytes <= min(gpu.total_bytes, info.available_ram_bytes)


@pytest.mark.parametrize(("ram_gib", "fraction"), [(8, 2 / 3), (16, 2 / 3), (64, 3 / 4)])
def test_apple_budget_fraction(ram_gib: int, fraction: float) -> None:
    assert hardware.apple_gpu_budget(ram_gib * GIB) == int(ram_gib * GIB * fraction)


def test_best_gpu_none_without_gpus() -> None:
    info = HardwareInfo(GIB, GIB, 1, 1, "cpu", "os", (), False, ())
    assert info.best_gpu() is None
