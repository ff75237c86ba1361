"""`enclave chat` as a user runs it: a real process, the real model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def enclave(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=timeout
    )


def test_chat_json_reports_answer_and_stats(chat_model_path: Path) -> None:
    result = enclave(
        "chat",
        str(chat_model_path),
        "--prompt",
        "Name three colors.",
        "--max-tokens",
        "24",
        "--seed",
        "5",
        "--ctx",
        "2048",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"].strip()
    assert data["generated_tokens"] == 24
    assert data["prompt_tokens"] > 5
    assert data["n_ctx"] == 2048
    assert 0 < data["time_to_first_token_s"] < 30
    assert data["client_tokens_per_s"] > 1 and data["engine_eval_tokens_per_s"] > 1
    assert data["finish_reason"] == "length"


def test_chat_streams_text_to_the_terminal(chat_model_path: Path) -> None:
    result = enclave("chat", str(chat_model_path), "-p", "Hello", "--max-tokens", "12", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "tokens/s" in result.stderr and "first token after" in result.stderr


@pytest.mark.parametrize(("kind", "expected"), [("garbage", "not a GGUF"), ("truncated", "incomplete")])
def test_chat_with_a_bad_file_says_so_in_plain_words(
    tmp_path: Path, chat_model_path: Path, kind: str, expected: str
) -> None:
    bad = tmp_path / "model.gguf"
    if kind == "garbage":
        bad.write_bytes(b"plain text, not a model" * 50)
    else:
        with open(chat_model_path, "rb") as source:
            bad.write_bytes(source.read(3_000_000))
    result = enclave("chat", str(bad), "-p", "Hi")
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_chat_with_a_missing_file(tmp_path: Path) -> None:
    result = enclave("chat", str(tmp_path / "nope.gguf"), "-p", "Hi")
    assert result.returncode == 1
    assert "There is no file" in result.stderr and "Traceback" not in result.stderr


def test_chat_with_a_draft_model_reports_its_drafts(instruct_model_path: Path, tmp_path: Path) -> None:
    """`--draft-model`: speculative decoding from the command line (SmolLM2 drafting for itself,
    greedy, so its drafts are accepted); a missing draft file is said before anything loads."""
    result = enclave(
        "chat", str(instruct_model_path), "--draft-model", str(instruct_model_path),
        "-p", "List the days of the week.", "--temperature", "0", "--max-tokens", "40", "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"].strip() and not data["notice"]
    assert 0 < data["draft_tokens_accepted"] <= data["draft_tokens_proposed"]
    nowhere = tmp_path / "no.gguf"
    missing = enclave("chat", str(instruct_model_path), "--draft-model", str(nowhere), "-p", "Hi")
    assert missing.returncode != 0
    assert f"There is no draft model file at {nowhere}." in missing.stderr
