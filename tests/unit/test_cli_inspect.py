"""`enclave hardware` and `enclave inspect` as a user runs them: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def enclave(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
        check=False,
    )


def test_hardware_json() -> None:
    done = enclave("hardware", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["total_ram_bytes"] > 0
    assert data["logical_cores"] >= 1
    assert isinstance(data["gpus"], list)
    assert isinstance(data["notes"], list)


def test_hardware_text() -> None:
    done = enclave("hardware")
    assert done.returncode == 0, done.stderr
    assert "RAM:" in done.stdout and "CPU:" in done.stdout


def test_inspect_garbage_fails_in_plain_words(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(4096))
    done = enclave("inspect", str(junk))
    assert done.returncode == 1
    assert "not a GGUF model" in done.stderr
    assert "Traceback" not in done.stderr


def test_inspect_truncated_and_missing(tmp_path: Path, embedding_model_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(embedding_model_path.read_bytes()[:1_000_000])
    done = enclave("inspect", str(cut))
    assert done.returncode == 1
    assert "incomplete (truncated)" in done.stderr and "Traceback" not in done.stderr
    missing = enclave("inspect", str(tmp_path / "nope.gguf"))
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_inspect_real_model(chat_model_path: Path) -> None:
    done = enclave("inspect", str(chat_model_path), "--ctx", "4096")
    assert done.returncode == 0, done.stderr
    assert "gemma3" in done.stdout and "Q4_K_M" in done.stdout
    assert "Sliding window: 512" in done.stdout
    assert "Context:      4096 tokens" in done.stdout


def test_inspect_real_model_json(embedding_model_path: Path) -> None:
    done = enclave("inspect", str(embedding_model_path), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["facts"]["architecture"] == "bert"
    assert data["facts"]["is_embedding_model"] is True
    assert data["plan"]["verdict"] in {"gpu_full", "gpu_partial", "cpu"}
    assert data["plan"]["n_ctx"] == 512


def test_inspect_bad_ctx(embedding_model_path: Path) -> None:
    done = enclave("inspect", str(embedding_model_path), "--ctx", "0")
    assert done.returncode == 1 and "--ctx" in done.stderr
