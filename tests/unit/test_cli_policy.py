"""The CLI obeys the organisation's policy, key by key, and `enclave policy` says what is in
force and where it came from (the policy is set through ENCLAVE_POLICY_FILE here; every source
is covered by tests/unit/test_policy_matrix.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.cli import run_cli
from app.core import paths
from app.core.policy import KEYS
from tests.fakehub import FakeHub
from tests.policy_fixtures import use_policy, use_raw_policy_file

REPO = "acme/tiny-GGUF"
Capture = pytest.CaptureFixture[str]


def _gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def test_policy_prints_every_key_with_its_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    every = {
        "offline_only": True, "allow_downloads": False, "allowed_models": ["acme/*"],
        "models_folder": str(tmp_path / "share"), "allowed_servers": [], "allow_api": False,
        "api_hosts": ["127.0.0.1"], "default_model": "acme/x/y.gguf", "default_preset": "Summarize",
        "keep_history": False,
    }
    use_policy(monkeypatch, tmp_path, **every)
    assert run_cli(["policy", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["policy"] == every and data["problems"] == []
    assert set(data["sources"]) == set(KEYS)
    assert all(source.endswith("enclave-policy.json") for source in data["sources"].values())
    assert run_cli(["policy"]) == 0
    out = capsys.readouterr().out
    for key in KEYS:
        assert f"  {key} = " in out
    assert "Conversations are not saved" in out and "from " in out


def test_policy_says_when_nothing_is_set(capsys: Capture) -> None:
    assert run_cli(["policy"]) == 0
    assert "has set nothing" in capsys.readouterr().out


def test_a_broken_policy_is_said_and_read_strictly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    use_raw_policy_file(monkeypatch, tmp_path, "{ offline_only: yes }")
    assert run_cli(["policy", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "not valid JSON" in data["problems"][0]
    assert data["policy"]["offline_only"] is True and data["policy"]["allow_api"] is False
    assert run_cli(["policy"]) == 0
    assert capsys.readouterr().out.startswith("Problem: ")


# -- allowed_models -------------------------------------------------------------------------
def test_a_refused_model_is_refused_by_every_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    use_policy(monkeypatch, tmp_path, allowed_models=["HuggingFaceTB/*"])
    refused = str(_gguf(tmp_path / "gemma-3-270m.gguf"))
    for command in (["inspect", refused], ["chat", refused, "-p", "hi"], ["serve", "-m", refused]):
        assert run_cli(command) == 1, command
        assert "does not allow the model gemma-3-270m.gguf" in capsys.readouterr().err, command


@pytest.fixture
def hub(fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "home" / "hf"))
    fake_hub.add_repo(REPO, downloads=1234, likes=5, license="mit", card="# Tiny")
    fake_hub.add_file(REPO, "tiny-Q4_K_M.gguf", b"GGUF" + os.urandom(2000))
    fake_hub.add_file(REPO, "tiny-Q8_0.gguf", b"GGUF" + os.urandom(4000))
    fake_hub.add_repo("other/thing-GGUF", downloads=1)
    fake_hub.add_file("other/thing-GGUF", "thing-Q4_0.gguf", b"GGUF" + bytes(10))
    return fake_hub


def test_search_files_download_and_models_follow_allowed_models(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    use_policy(monkeypatch, tmp_path, allowed_models=["acme/tiny-GGUF/*Q4_K_M.gguf"])
    assert run_cli(["search", "", "--json"]) == 0
    assert [r["repo_id"] for r in json.loads(capsys.readouterr().out)] == [REPO]
    assert run_cli(["files", REPO, "--json"]) == 0
    assert [f["quant"] for f in json.loads(capsys.readouterr().out)["files"]] == ["Q4_K_M"]
    assert run_cli(["files", REPO]) == 0
    assert "1 file(s) not shown: your organisation does not allow them" in capsys.readouterr().out
    assert run_cli(["download", REPO, "tiny-Q8_0.gguf"]) == 1
    assert "does not allow the model acme/tiny-GGUF/tiny-Q8_0.gguf" in capsys.readouterr().err
    assert run_cli(["download", REPO, "tiny-Q4_K_M.gguf"]) == 0
    capsys.readouterr()
    _gguf(paths.default_models_dir() / "other" / "thing-GGUF" / "thing-Q4_0.gguf")  # copied by hand
    assert run_cli(["models", "--json"]) == 0
    rows = {Path(r["path"]).name: r["allowed"] for r in json.loads(capsys.readouterr().out)}
    assert rows == {"tiny-Q4_K_M.gguf": True, "thing-Q4_0.gguf": False}
    assert run_cli(["models"]) == 0
    assert "[not allowed by your organisation]" in capsys.readouterr().out


# -- offline_only / allow_downloads (the network gate) --------------------------------------
def test_offline_only_and_no_downloads(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    use_policy(monkeypatch, tmp_path, allow_downloads=False)
    assert run_cli(["search", "tiny", "--json"]) == 0  # search still works
    capsys.readouterr()
    before = len(hub.requests)
    assert run_cli(["download", REPO, "tiny-Q4_K_M.gguf"]) == 1
    assert "downloads off" in capsys.readouterr().err
    assert not any("resolve" in str(r) for r in hub.requests[before:])
    use_policy(monkeypatch, tmp_path, offline_only=True)
    before = len(hub.requests)
    assert run_cli(["search", "tiny"]) == 1
    assert "organisation has set Enclave to work offline" in capsys.readouterr().err
    assert len(hub.requests) == before


# -- models_folder --------------------------------------------------------------------------
def test_models_folder_is_listed_and_never_a_download_target(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    shared = tmp_path / "share"
    model = _gguf(shared / "acme" / "Helper-GGUF" / "helper.gguf")
    use_policy(monkeypatch, tmp_path, models_folder=str(shared))
    assert run_cli(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    listed = [(r["path"], r["source"], r["deletable"]) for r in rows]
    assert listed == [(str(model), "organisation", False)]
    from app.core.settings import Settings, save_settings

    save_settings(Settings(models_dir=str(shared / "mine")))
    assert run_cli(["download", REPO, "tiny-Q4_K_M.gguf"]) == 1
    assert "only reads it" in capsys.readouterr().err
    assert sorted(p.name for p in shared.rglob("*")) == ["Helper-GGUF", "acme", "helper.gguf"]


# -- allowed_servers ------------------------------------------------------------------------
def test_chat_with_a_server_outside_allowed_servers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    use_policy(monkeypatch, tmp_path, allowed_servers=["llm.corp.example"])
    assert run_cli(["chat", "--server", "http://127.0.0.1:9", "--server-key", "k", "-p", "hi"]) == 1
    assert "does not allow the server http://127.0.0.1:9/v1" in capsys.readouterr().err
    use_policy(monkeypatch, tmp_path, allowed_servers=[])
    assert run_cli(["chat", "--server", "http://127.0.0.1:9", "--server-key", "k", "-p", "hi"]) == 1
    assert "this computer only" in capsys.readouterr().err


# -- allow_api / api_hosts ------------------------------------------------------------------
def test_serve_obeys_allow_api_and_api_hosts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    model = _gguf(tmp_path / "m.gguf")
    use_policy(monkeypatch, tmp_path, allow_api=False)
    assert run_cli(["serve", "-m", str(model)]) == 1
    assert "turned off the local API" in capsys.readouterr().err
    use_policy(monkeypatch, tmp_path, api_hosts=["127.0.0.1"])
    assert run_cli(["serve", "-m", str(model), "--host", "0.0.0.0"]) == 1
    assert "does not allow the API on 0.0.0.0" in capsys.readouterr().err


# -- default_model, default_preset (a real model answers) -----------------------------------
def test_chat_uses_the_default_model_and_preset(
    instruct_model_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    placed = paths.default_models_dir() / "HuggingFaceTB" / "SmolLM2-GGUF" / instruct_model_path.name
    placed.parent.mkdir(parents=True)
    placed.symlink_to(instruct_model_path)
    name = f"HuggingFaceTB/SmolLM2-GGUF/{instruct_model_path.name}"
    ask = ["chat", "-p", "Hi", "--max-tokens", "1", "--ctx", "512", "--json"]
    use_policy(monkeypatch, tmp_path, default_model=name)
    assert run_cli(ask) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["model"] == str(placed)
    use_policy(monkeypatch, tmp_path, default_model=name, default_preset="Summarize")
    assert run_cli(ask) == 0
    preset = json.loads(capsys.readouterr().out)
    # The preset's system prompt went first: the same question took more prompt tokens.
    assert preset["prompt_tokens"] > plain["prompt_tokens"] + 15
    use_policy(monkeypatch, tmp_path)
    assert run_cli(ask) == 1
    assert "Give a model file" in capsys.readouterr().err


def test_every_command_says_when_the_policy_is_broken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    use_raw_policy_file(monkeypatch, tmp_path, "not json")
    assert run_cli(["models"]) == 0
    assert "policy could not be read in full" in capsys.readouterr().err
    use_policy(monkeypatch, tmp_path, offline_only=True)
    assert run_cli(["models"]) == 0
    assert "policy could not be read" not in capsys.readouterr().err
