"""Setting an organisation policy in a test, through the real sources (app/core/policy_sources.py).

`use_policy(monkeypatch, folder, **keys)` writes the keys to a JSON file named by
ENCLAVE_POLICY_FILE and reloads the policy; the autouse `no_policy` fixture (tests/conftest.py)
puts "no policy" back after the test. The other writers put the same keys where each OS keeps
them, so one test can run against every source.
"""

from __future__ import annotations

import json
import plistlib
from pathlib import Path
from typing import Any

import pytest

from app.core import policy, policy_sources


def use_policy(monkeypatch: pytest.MonkeyPatch, folder: Path, **keys: Any) -> policy.Policy:
    path = folder / "enclave-policy.json"
    path.write_text(json.dumps(keys), encoding="utf-8")
    monkeypatch.setenv(policy_sources.ENV_VAR, str(path))
    return policy.reload_policy()


def use_raw_policy_file(monkeypatch: pytest.MonkeyPatch, folder: Path, text: str) -> policy.Policy:
    path = folder / "enclave-policy.json"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(policy_sources.ENV_VAR, str(path))
    return policy.reload_policy()


# -- each source, with the same keys --------------------------------------------------------
def _registry_data(value: Any) -> Any:
    # What winreg.EnumValue gives: REG_DWORD for booleans, REG_MULTI_SZ lists, REG_SZ texts.
    if isinstance(value, bool):
        return int(value)
    return value


def load_from(source: str, monkeypatch: pytest.MonkeyPatch, folder: Path, **keys: Any) -> policy.Policy:
    """Write the keys in `source`'s own format and read them back as Enclave does at start."""
    monkeypatch.delenv(policy_sources.ENV_VAR, raising=False)
    if source == "env-file":
        return use_policy(monkeypatch, folder, **keys)
    if source == "linux-file":
        path = folder / "etc" / "enclave" / "policy.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(keys), encoding="utf-8")
        monkeypatch.setattr(policy_sources, "LINUX_POLICY_FILE", path)
        readings = policy_sources.read_sources(platform="linux")
    elif source == "macos-profile":
        managed = folder / "Managed Preferences"
        managed.mkdir()
        (managed / f"{policy_sources.BUNDLE_ID}.plist").write_bytes(plistlib.dumps(keys))
        monkeypatch.setattr(policy_sources, "MAC_MANAGED_DIR", managed)
        readings = policy_sources.read_sources(platform="darwin")
    elif source == "windows-registry":
        values = {name: _registry_data(value) for name, value in keys.items()}
        monkeypatch.setattr(
            policy_sources,
            "_registry_values",
            lambda hive: dict(values) if hive == "HKEY_LOCAL_MACHINE" else None,
        )
        readings = policy_sources.read_sources(platform="win32")
    else:
        raise ValueError(source)
    loaded = policy.load_policy(readings)
    monkeypatch.setattr(policy, "_current", loaded)
    return loaded


SOURCES = ["env-file", "linux-file", "macos-profile", "windows-registry"]
