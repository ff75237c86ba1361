"""The library: our folder, other apps' folders (used in place), last used, fit, delete."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.core import library
from app.core.library import LibraryError, delete_model, mark_used, scan_library
from app.core.settings import Settings

GGUF = b"GGUF" + bytes(100)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home folder so other apps' default places are under tmp."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / ".cache" / "huggingface" / "hub"))
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    return home


def _write(path: Path, data: bytes = GGUF) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(models_dir=str(tmp_path / "models"), **kw)  # type: ignore[arg-type]


def test_our_folder_split_sets_and_staging_hidden(tmp_path: Path, home: Path) -> None:
    models = tmp_path / "models"
    single = _write(models / "acme" / "a-GGUF" / "a-Q4_K_M.gguf")
    for i in (1, 2):
        _write(models / "acme" / "b-GGUF" / f"b-Q8_0-0000{i}-of-00002.gguf")
    _write(models / "acme" / "c-GGUF" / "c-00001-of-00002.gguf")  # incomplete: not listed
    _write(models / ".downloads" / "acme" / "d-GGUF" / "d.gguf.part")
    _write(models / ".downloads" / "acme" / "d-GGUF" / "d.gguf")  # verified, not yet moved
    found = {m.name: m for m in scan_library(_settings(tmp_path))}
    assert set(found) == {"a-Q4_K_M.gguf", "b-Q8_0-00001-of-00002.gguf"}
    assert found["a-Q4_K_M.gguf"].path == single and found["a-Q4_K_M.gguf"].repo_id == "acme/a-GGUF"
    split = found["b-Q8_0-00001-of-00002.gguf"]
    assert len(split.parts) == 2 and split.size == 2 * len(GGUF)
    assert all(m.source == "enclave" and m.deletable for m in found.values())


def _ollama(home: Path, name: str, tag: str, blob: bytes) -> Path:
    import hashlib

    root = home / ".ollama" / "models"
    digest = hashlib.sha256(blob).hexdigest()
    _write(root / "blobs" / f"sha256-{digest}", blob)
    manifest = {
        "schemaVersion": 2,
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}"},
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "0" * 64},
        ],
    }
    path = root / "manifests" / "registry.ollama.ai" / "library" / name / tag
    _write(path, json.dumps(manifest).encode())
    return root / "blobs" / f"sha256-{digest}"


def test_other_apps_found_in_place(tmp_path: Path, home: Path) -> None:
    hf = home / ".cache" / "huggingface" / "hub" / "models--Qwen--Qwen2.5-0.5B-Instruct-GGUF"
    blob = _write(hf / "blobs" / ("e" * 64))
    snap = hf / "snapshots" / ("1" * 40)
    snap.mkdir(parents=True)
    os.symlink(blob, snap / "qwen2.5-0.5b-instruct-q4_k_m.gguf")
    lms = _write(home / ".lmstudio" / "models" / "lmstudio-community" / "x" / "x-Q4_K_M.gguf")
    g4a = _write(home / ".local" / "share" / "nomic.ai" / "GPT4All" / "gpt4all-Q4_0.gguf")
    oll = _ollama(home, "llama3.2", "3b", b"GGUF" + bytes(500))
    _ollama(home, "broken", "latest", b"NOTGGUF" + bytes(10))  # blob that is not GGUF
    extra = _write(tmp_path / "mine" / "own-Q5_K_M.gguf")
    settings = _settings(tmp_path, extra_model_dirs=[str(tmp_path / "mine")])
    found = {m.source: m for m in scan_library(settings)}
    assert set(found) == {"hf-cache", "lmstudio", "gpt4all", "ollama", "extra"}
    assert found["hf-cache"].repo_id == "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
    assert found["hf-cache"].path.name == "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    assert found["lmstudio"].path == lms and found["gpt4all"].path == g4a
    assert found["ollama"].path == oll and found["ollama"].name == "llama3.2:3b"
    assert found["extra"].path == extra
    assert not any(m.deletable for m in found.values())
    # used where they are: nothing copied into our folder
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("*.gguf"))
    assert {m.source for m in scan_library(settings, other_apps=False)} == {"extra"}


def test_same_file_twice_is_listed_once(tmp_path: Path, home: Path) -> None:
    target = _write(tmp_path / "models" / "acme" / "a-GGUF" / "a.gguf")
    settings = _settings(tmp_path, extra_model_dirs=[str(tmp_path / "models")])
    assert [m.path for m in scan_library(settings)] == [target]


def test_last_used(tmp_path: Path, home: Path) -> None:
    path = _write(tmp_path / "models" / "acme" / "a-GGUF" / "a.gguf")
    [model] = scan_library(_settings(tmp_path))
    assert model.last_used is None
    mark_used(path, when=1_700_000_000.0)
    [model] = scan_library(_settings(tmp_path))
    assert model.last_used == 1_700_000_000.0


def test_delete_ours_only(tmp_path: Path, home: Path) -> None:
    settings = _settings(tmp_path)
    for i in (1, 2):
        _write(tmp_path / "models" / "acme" / "b-GGUF" / f"b-0000{i}-of-00002.gguf")
    _write(home / ".lmstudio" / "models" / "x" / "y" / "theirs.gguf")
    models = {m.source: m for m in scan_library(settings)}
    with pytest.raises(LibraryError, match="LM Studio"):
        delete_model(models["lmstudio"], settings)
    assert models["lmstudio"].path.exists()
    delete_model(models["enclave"], settings)
    assert not (tmp_path / "models" / "acme").exists()
    assert [m.source for m in scan_library(settings)] == ["lmstudio"]


def test_delete_refuses_paths_outside_models_folder(tmp_path: Path, home: Path) -> None:
    outside = _write(tmp_path / "elsewhere" / "x.gguf")
    fake = library.LocalModel(outside, "x.gguf", "enclave", 10, 0.0, parts=[outside])
    with pytest.raises(LibraryError, match="outside"):
        delete_model(fake, _settings(tmp_path))
    assert outside.exists()


def test_fit_verdict_for_real_and_unreadable_files(
    tmp_path: Path, home: Path, embedding_model_path: Path
) -> None:
    from app.core.hardware import HardwareInfo

    hardware = HardwareInfo(16 * 1024**3, 12 * 1024**3, 4, 8, "cpu", "Linux", (), False, ())
    real = library.LocalModel(embedding_model_path, "e", "extra", 1, 0.0, parts=[])
    assert real.fit(hardware).verdict == "cpu"
    junk = _write(tmp_path / "junk.gguf", b"GGUF" + bytes(1000))
    fit = library.LocalModel(junk, "j", "extra", 1004, 0.0, parts=[junk]).fit(hardware)
    assert fit.verdict in ("cpu", "unknown")
