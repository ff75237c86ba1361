"""`enclave search | files | download | models` against the fake hub."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.cli import run_cli
from app.core.settings import Settings, save_settings
from tests.fakehub import FakeHub

REPO = "acme/tiny-GGUF"


@pytest.fixture
def hub(fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "home" / "hf"))
    fake_hub.add_repo(REPO, downloads=1234, likes=5, license="mit", card="# Tiny")
    fake_hub.add_file(REPO, "tiny-Q4_K_M.gguf", b"GGUF" + os.urandom(200_000))
    fake_hub.add_file(REPO, "tiny-Q8_0.gguf", b"GGUF" + os.urandom(400_000))
    fake_hub.add_repo("acme/gated-GGUF", gated="manual", downloads=1)
    fake_hub.add_file("acme/gated-GGUF", "g-Q4_0.gguf", b"GGUF" + bytes(10))
    return fake_hub


def test_search(hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["search", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "acme/tiny-GGUF" in out and "1,234 downloads" in out and "license mit" in out
    assert run_cli(["search", "", "--sort", "likes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["repo_id"] == REPO and rows[1]["gated"] is True


def test_files(hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["files", REPO]) == 0
    out = capsys.readouterr().out
    assert "Q4_K_M" in out and "Q8_0" in out and "best choice" in out
    assert run_cli(["files", REPO, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["quant"] for f in data["files"]] == ["Q4_K_M", "Q8_0"]
    assert sum(f["recommended"] for f in data["files"]) == 1


def test_download_then_models(hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["download", REPO, "tiny-Q4_K_M.gguf"]) == 0
    captured = capsys.readouterr()
    path = Path(captured.out.strip())
    assert path.is_file() and path.name == "tiny-Q4_K_M.gguf"
    assert "done" in captured.err
    assert run_cli(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in rows] == [str(path)] and rows[0]["source"] == "enclave"
    assert run_cli(["models"]) == 0
    assert "tiny-Q4_K_M.gguf" in capsys.readouterr().out


def test_download_best_fit_when_no_file_named(
    hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["download", REPO]) == 0
    out = capsys.readouterr().out
    assert "Best fit for this computer: tiny-Q8_0.gguf" in out


def test_plain_errors(hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["download", "acme/gated-GGUF", "g-Q4_0.gguf"]) == 1
    assert "accept its license" in capsys.readouterr().err
    assert run_cli(["files", "acme/nothing"]) == 1
    assert "not found" in capsys.readouterr().err
    before = len(hub.requests)
    assert run_cli(["download", REPO, "../../evil.gguf"]) == 1
    assert "outside the models folder" in capsys.readouterr().err
    assert len(hub.requests) == before
    save_settings(Settings(offline_mode=True))
    before = len(hub.requests)
    assert run_cli(["search", "tiny"]) == 1
    assert "Offline mode is on" in capsys.readouterr().err
    assert len(hub.requests) == before


def test_models_empty(hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["models"]) == 0
    assert "No models yet" in capsys.readouterr().out
