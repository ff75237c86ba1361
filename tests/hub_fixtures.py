"""The fake Hugging Face hub and an in-memory keyring, as pytest fixtures.

Shared by tests/unit/conftest.py and tests/gui/conftest_models.py (which import them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakehub import FakeHub


class MemoryKeyring:
    """A keyring backend that keeps secrets in a dict (set with keyring.set_keyring)."""

    priority = 1

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
    """A started FakeHub; HF_ENDPOINT points at it. Register repos/files on it in the test.

    The OS keyring is replaced by an empty in-memory one, so no real token is ever sent.
    """
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
