"""Fixtures for the Models pages' GUI tests (imported by tests/gui/test_models_pages.py).

The same fake Hugging Face hub and in-memory keyring as tests/unit/conftest.py, plus a fake
computer (3 GB free on its GPU, 6 GB of free RAM) so fit verdicts do not depend on the test machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.core.hardware import GpuInfo, HardwareInfo
from app.core.settings import Settings, save_settings
from tests.fakehub import FakeHub

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


class MemoryKeyring:
    """Secrets in a dict instead of the OS keyring."""

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError("not found")
        del self.store[(service, username)]


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    import keyring

    backend = MemoryKeyring()
    monkeypatch.setattr(keyring, "get_password", backend.get_password)
    monkeypatch.setattr(keyring, "set_password", backend.set_password)
    monkeypatch.setattr(keyring, "delete_password", backend.delete_password)
    return backend


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring) -> Iterator[FakeHub]:
    """A started FakeHub that HF_ENDPOINT points at; the keyring is an empty in-memory one."""
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    try:
        yield hub
    finally:
        hub.stop()


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
