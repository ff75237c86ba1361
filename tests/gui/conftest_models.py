"""Fixtures for the Models pages' GUI tests (imported by tests/gui/test_models_pages.py).

The same fake Hugging Face hub and in-memory keyring as tests/unit/conftest.py, plus a fake
computer (3 GB free on its GPU, 6 GB of free RAM) so fit verdicts do not depend on the test machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.core.hardware import GpuInfo, HardwareInfo
from app.core.settings import Settings, save_settings
from tests.hub_fixtures import MemoryKeyring, fake_hub, memory_keyring

__all__ = ["FAKE_HARDWARE", "MemoryKeyring", "fake_hardware", "fake_hub", "memory_keyring", "models_window"]

GIB = 1024**3

FAKE_HARDWARE = HardwareInfo(
    total_ram_bytes=16 * GIB,
    available_ram_bytes=6 * GIB,
    physical_cores=8,
    logical_cores=16,
    cpu_name="Test CPU",
    os_name="Linux",
    gpus=(GpuInfo(0, "Test GPU", 4 * GIB, 3 * GIB, "550.0", "cuda"),),
    unified_memory=False,
    notes=(),
)


@pytest.fixture
def fake_hardware(monkeypatch: pytest.MonkeyPatch) -> HardwareInfo:
    """detect_hardware() returns FAKE_HARDWARE (the window's warm-up and our pages use it)."""
    import app.core.hardware

    monkeypatch.setattr(app.core.hardware, "detect_hardware", lambda *a, **k: FAKE_HARDWARE)
    return FAKE_HARDWARE


@pytest.fixture
def models_window(make_window: Callable[[], Any], fake_hardware: HardwareInfo) -> Callable[..., Any]:
    """make_window with settings that keep the test to its own folders (no other apps)."""

    def make(**overrides: Any) -> Any:
        save_settings(Settings(scan_other_apps=False, **overrides))
        window = make_window()
        window.hardware = fake_hardware
        return window

    return make
