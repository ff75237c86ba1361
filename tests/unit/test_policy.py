"""The organisation's policy: every source read into the same keys, precedence, and a broken
source read as strictly as possible and said out loud (app/core/policy.py, policy_sources.py)."""

from __future__ import annotations

import json
import plistlib
from pathlib import Path

import pytest

from app.core import policy, policy_sources
from app.core.policy import STRICTEST_SOURCE, Policy, current_policy, load_policy, merge, parse_values
from tests.policy_fixtures import SOURCES, load_from, use_policy, use_raw_policy_file

EVERY_KEY = {
    "offline_only": True,
    "allow_downloads": False,
    "allowed_models": ["bartowski/*", "SmolLM2-*.gguf"],
    "models_folder": "/srv/models",
    "allowed_servers": ["https://llm.corp.example"],
    "allow_api": True,
    "api_hosts": ["127.0.0.1"],
    "default_model": "HuggingFaceTB/SmolLM2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "default_preset": "Precise",
    "keep_history": False,
}


def test_no_source_means_nothing_is_set() -> None:
    assert current_policy() == Policy()
    assert load_policy([]).set_keys() == []
    assert not Policy().forbids_downloads and not Policy().forces_offline and Policy().keeps_history


@pytest.mark.parametrize("source", SOURCES)
def test_every_key_reads_the_same_from_every_source(
    source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = load_from(source, monkeypatch, tmp_path, **EVERY_KEY)
    assert loaded.problems == ()
    assert loaded.as_dict() == EVERY_KEY
    assert set(loaded.sources) == set(EVERY_KEY)
    assert all(origin for origin in loaded.sources.values())
    assert current_policy() is loaded


def test_where_each_source_is_named() -> None:
    assert policy_sources.ENV_VAR == "ENCLAVE_POLICY_FILE"
    assert policy_sources.REGISTRY_SUBKEY == r"Software\Policies\Enclave"
    assert policy_sources.mac_plist_paths("ann") == [
        policy_sources.MAC_MANAGED_DIR / "com.enclave.desktop.plist",
        policy_sources.MAC_MANAGED_DIR / "ann" / "com.enclave.desktop.plist",
    ]


def test_the_bundle_id_is_the_one_the_app_is_built_with() -> None:
    spec = (Path(__file__).resolve().parents[2] / "build.spec").read_text(encoding="utf-8")
    assert f'BUNDLE_ID = "{policy_sources.BUNDLE_ID}"' in spec


def test_registry_values_as_windows_gives_them() -> None:
    reading = policy_sources.parse_registry_values(
        {"offline_only": 1, "allow_api": 0, "allowed_models": "a/*;b.gguf", "api_hosts": ["127.0.0.1"]},
        r"HKLM\Software\Policies\Enclave",
    )
    assert reading.problems == ()
    assert reading.values == {
        "offline_only": True,
        "allow_api": False,
        "allowed_models": ("a/*", "b.gguf"),
        "api_hosts": ("127.0.0.1",),
    }


def test_a_profile_plist_keeps_only_our_keys() -> None:
    data = plistlib.dumps(
        {"PayloadUUID": "x", "PayloadType": "com.enclave.desktop", "allow_downloads": False}
    )
    reading = policy_sources.parse_plist_bytes(data, "profile")
    assert reading.problems == () and reading.values == {"allow_downloads": False}


def test_machine_policy_wins_and_the_env_file_only_fills_gaps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    machine = tmp_path / "policy.json"
    machine.write_text(json.dumps({"allow_downloads": False}), encoding="utf-8")
    monkeypatch.setattr(policy_sources, "LINUX_POLICY_FILE", machine)
    # A user can set an environment variable: its file must not loosen the administrator's.
    loaded = use_policy(monkeypatch, tmp_path, allow_downloads=True, keep_history=False)
    assert loaded.allow_downloads is False and loaded.sources["allow_downloads"] == str(machine)
    assert loaded.keep_history is False and loaded.sources["keep_history"].endswith("enclave-policy.json")


def test_hklm_wins_over_hkcu(monkeypatch: pytest.MonkeyPatch) -> None:
    hives = {"HKEY_LOCAL_MACHINE": {"allow_api": 0}, "HKEY_CURRENT_USER": {"allow_api": 1, "keep_history": 0}}
    monkeypatch.setattr(policy_sources, "_registry_values", lambda hive: hives[hive])
    loaded = load_policy(policy_sources.read_sources(platform="win32", environ={}))
    assert loaded.allow_api is False and loaded.sources["allow_api"].startswith("HKLM")
    assert loaded.keep_history is False and loaded.sources["keep_history"].startswith("HKCU")


def test_broken_json_gives_the_strictest_reading_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = use_raw_policy_file(monkeypatch, tmp_path, '{"allow_downloads": true,,}')
    assert loaded.forces_offline and loaded.forbids_downloads and loaded.forbids_api
    assert loaded.allowed_servers == () and loaded.keeps_history is False
    assert loaded.allowed_models is None  # the models already here still open
    assert all(loaded.sources[key] == STRICTEST_SOURCE for key in policy.STRICTEST)
    assert "not valid JSON (line 1)" in loaded.problems[0]
    assert "strictest settings" in loaded.problems[-1]


def test_a_bad_value_or_unknown_key_is_a_problem_and_valid_keys_stand(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = use_policy(
        monkeypatch, tmp_path, allow_api="perhaps", offline_only=False, allow_donwloads=True
    )
    assert loaded.offline_only is False  # written validly: it stands
    assert loaded.allow_api is False and loaded.allow_downloads is False  # strictest
    assert any("“allow_api” should be true or false" in p for p in loaded.problems)
    assert any("“allow_donwloads” is not a policy key" in p for p in loaded.problems)


def test_a_named_file_that_is_missing_is_a_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENCLAVE_POLICY_FILE", str(tmp_path / "nowhere.json"))
    loaded = policy.reload_policy()
    assert "there is no such file" in loaded.problems[0] and loaded.forces_offline


@pytest.mark.parametrize(
    "text, why",
    [("[1, 2]", "one JSON object"), ("\xff\xfe", "not valid JSON"), ("", "not valid JSON")],
)
def test_other_unreadable_files(text: str, why: str) -> None:
    reading = policy_sources.parse_json_bytes(text.encode("latin-1"), "f.json")
    assert why in reading.problems[0] or "UTF-8" in reading.problems[0]


def test_a_broken_plist_is_a_problem() -> None:
    assert "not a valid property list" in policy_sources.parse_plist_bytes(b"<plist", "p").problems[0]


def test_values_are_checked_by_kind() -> None:
    reading = parse_values(
        {"allowed_models": [1], "models_folder": "", "default_model": 3, "keep_history": "no"}, "x"
    )
    assert reading.values == {"keep_history": False}
    assert len(reading.problems) == 3
    assert merge([reading]).problems[-1] == policy.STRICTEST_WORDS
