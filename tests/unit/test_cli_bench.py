"""`enclave bench` and the speed in `enclave inspect --json`, as a user runs them: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.unit.test_speed import SLOW

REPO = Path(__file__).resolve().parents[2]


def enclave(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=full_env, check=False,
    )  # fmt: skip


def test_bench_json_measures_and_saves(tmp_path: Path) -> None:
    kept = tmp_path / "speed.json"
    done = enclave("bench", "--json", "--save", "--no-llama", env={"ENCLAVE_SPEED_PROFILE": str(kept)})
    assert done.returncode == 0, done.stderr
    profile = json.loads(done.stdout)
    assert profile["cpu"]["bandwidth"] and profile["cpu"]["bandwidth"][0]["gb_per_s"] > 0
    assert profile["cpu"]["matmul_gflops"] > 0 and "numpy" in profile["cpu"]["how"]
    assert json.loads(kept.read_text(encoding="utf-8")) == profile


def test_bench_cached_prints_the_profile_and_starter_speeds(tmp_path: Path) -> None:
    pinned = tmp_path / "speed.json"
    missing = enclave("bench", "--cached", env={"ENCLAVE_SPEED_PROFILE": str(pinned)})
    assert missing.returncode == 1 and "not been measured yet" in missing.stderr
    pinned.write_text(json.dumps(SLOW.to_dict()), encoding="utf-8")
    done = enclave("bench", "--cached", env={"ENCLAVE_SPEED_PROFILE": str(pinned)})
    assert done.returncode == 0, done.stderr
    assert "Memory read bandwidth (GB/s):  64 MB: 12.0, 2048 MB: 8.0" in done.stdout
    assert "Qwen3 0.6B" in done.stdout and "tokens/s, first word after" in done.stdout


def test_inspect_json_has_this_machines_predicted_speed(tmp_path: Path, instruct_model_path: Path) -> None:
    pinned = tmp_path / "speed.json"
    pinned.write_text(json.dumps(SLOW.to_dict()), encoding="utf-8")
    done = enclave("inspect", str(instruct_model_path), "--json", env={"ENCLAVE_SPEED_PROFILE": str(pinned)})
    assert done.returncode == 0, done.stderr
    speed = json.loads(done.stdout)["speed"]
    assert speed["decode_tokens_per_s"] > 0 and speed["first_word_s"] > 0
    assert speed["prompt_tokens"] == 2000 and speed["from_file_facts"] is True
    text = enclave("inspect", str(instruct_model_path), env={"ENCLAVE_SPEED_PROFILE": str(pinned)})
    assert "Speed:        about" in text.stdout and "first word of a 2,000-token question" in text.stdout
