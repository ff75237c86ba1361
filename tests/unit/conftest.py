"""Fixtures for unit tests: the fake Hugging Face hub and an in-memory keyring."""

from tests.hub_fixtures import MemoryKeyring, fake_hub, memory_keyring

__all__ = ["MemoryKeyring", "fake_hub", "memory_keyring"]
