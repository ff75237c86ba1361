"""What each policy key allows (app/core/policy_rules.py), on plain values."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.policy import KEYS, Policy
from app.core.policy_rules import (
    api_host_allowed,
    api_refusal,
    download_refusal,
    explain,
    find_default_model,
    model_allowed,
    model_refusal,
    repo_id_for_path,
    repo_may_be_allowed,
    server_allowed,
    server_refusal,
)

MODELS = Policy(allowed_models=("bartowski/*", "SmolLM2-*.gguf", "Qwen/Qwen2.5-0.5B-Instruct-GGUF"))


@pytest.mark.parametrize(
    "filename, repo_id, allowed",
    [
        ("Llama-3.2-1B-Q4_K_M.gguf", "bartowski/Llama-3.2-1B-Instruct-GGUF", True),  # owner/*
        ("SmolLM2-135M-Instruct.Q4_1.gguf", None, True),  # a file-name pattern, no repo known
        ("smollm2-360m.gguf", "someone/x", True),  # letter case ignored
        ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", True),  # a repo
        ("gemma-3-270m.gguf", "google/gemma-3-270m", False),
        ("Llama-3.2-1B-Q4_K_M.gguf", None, False),  # owner unknown: the owner pattern cannot allow it
    ],
)
def test_allowed_models(filename: str, repo_id: str | None, allowed: bool) -> None:
    assert model_allowed(filename, repo_id, MODELS) is allowed
    assert model_allowed(filename, repo_id, Policy()) is True


def test_repos_that_may_hold_an_allowed_file() -> None:
    only_repos = Policy(allowed_models=("bartowski/*", "Qwen/Qwen2.5-*/*.gguf"))
    assert repo_may_be_allowed("bartowski/anything", only_repos)
    assert repo_may_be_allowed("Qwen/Qwen2.5-7B-Instruct-GGUF", only_repos)
    assert not repo_may_be_allowed("Qwen/Qwen3-8B-GGUF", only_repos)
    assert not repo_may_be_allowed("google/gemma-3-270m", only_repos)
    assert repo_may_be_allowed("google/gemma-3-270m", MODELS)  # a file-name pattern may match


def test_a_models_folder_layout_names_the_repo(tmp_path: Path) -> None:
    model = tmp_path / "models" / "bartowski" / "Repo-GGUF" / "m.gguf"
    assert repo_id_for_path(model, [tmp_path / "models"]) == "bartowski/Repo-GGUF"
    cached = tmp_path / "hub" / "models--bartowski--Repo-GGUF" / "snapshots" / "abc" / "m.gguf"
    assert repo_id_for_path(cached, []) == "bartowski/Repo-GGUF"
    assert repo_id_for_path(tmp_path / "Downloads" / "m.gguf", [tmp_path / "models"]) is None
    assert model_refusal(model, policy=MODELS, roots=[tmp_path / "models"]) is None
    refusal = model_refusal(tmp_path / "gemma.gguf", policy=MODELS, roots=[])
    assert refusal is not None and "does not allow the model gemma.gguf" in refusal
    assert "bartowski/*" in refusal


def test_downloads_of_refused_models_and_into_the_shared_folder(tmp_path: Path) -> None:
    assert download_refusal(tmp_path, "google/gemma", "g.gguf", MODELS)
    assert download_refusal(tmp_path, "bartowski/x", "y.gguf", MODELS) is None
    shared = Policy(models_folder=str(tmp_path / "share"))
    said = download_refusal(tmp_path / "share" / "sub", "a/b", "c.gguf", shared)
    assert said is not None and "only reads it" in said
    assert download_refusal(tmp_path / "mine", "a/b", "c.gguf", shared) is None


def test_default_model_by_path_or_by_name_in_a_folder(tmp_path: Path) -> None:
    model = tmp_path / "owner" / "repo" / "m.gguf"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"GGUF")
    assert find_default_model(Policy(default_model="owner/repo/m.gguf"), [tmp_path]) == model
    assert find_default_model(Policy(default_model=str(model)), []) == model
    assert find_default_model(Policy(default_model="owner/repo/none.gguf"), [tmp_path]) is None
    assert find_default_model(Policy(), [tmp_path]) is None


@pytest.mark.parametrize(
    "entry, url, allowed",
    [
        ("https://llm.corp.example", "https://llm.corp.example/v1", True),
        ("https://llm.corp.example", "https://llm.corp.example.evil.com/v1", False),
        ("llm.corp.example", "http://llm.corp.example:8000/v1", True),
        ("llm.corp.example:8000", "http://llm.corp.example:8000/v1", True),
        ("*.corp.example", "https://gpu7.corp.example/v1", True),
        ("*.corp.example", "https://api.openai.com/v1", False),
        ("https://llm.corp.example/team-a", "https://llm.corp.example/team-b/v1", False),
    ],
)
def test_allowed_servers(entry: str, url: str, allowed: bool) -> None:
    assert server_allowed(url, Policy(allowed_servers=(entry,))) is allowed
    assert server_allowed(url, Policy()) is True


def test_no_servers_at_all() -> None:
    said = server_refusal("https://x.example/v1", Policy(allowed_servers=()))
    assert said is not None and "this computer only" in said


def test_api_switch_and_hosts() -> None:
    assert api_refusal("127.0.0.1", Policy(allow_api=False))
    assert api_refusal("127.0.0.1", Policy(allow_api=True)) is None
    loopback = Policy(api_hosts=("127.0.0.1",))
    assert api_host_allowed("localhost", loopback) and api_host_allowed("::1", loopback)
    assert not api_host_allowed("0.0.0.0", loopback)
    said = api_refusal("0.0.0.0", loopback)
    assert said is not None and "0.0.0.0" in said
    assert api_host_allowed("0.0.0.0", Policy(api_hosts=("0.0.0.0",)))


def test_every_key_has_one_sentence_and_its_source() -> None:
    full = Policy(
        offline_only=True,
        allow_downloads=False,
        allowed_models=("a",),
        models_folder="/srv/m",
        allowed_servers=(),
        allow_api=False,
        api_hosts=("127.0.0.1",),
        default_model="a",
        default_preset="Precise",
        keep_history=False,
        sources={key: "/etc/enclave/policy.json" for key in KEYS},
    )
    explained = explain(full)
    assert [e.key for e in explained] == list(KEYS)
    for item in explained:
        assert item.sentence.endswith(".") and item.sentence.count(". ") <= 1, item
        assert item.source == "/etc/enclave/policy.json" and item.value


def test_a_server_pattern_never_matches_inside_a_path() -> None:
    corp = Policy(allowed_servers=("*.corp.example",))
    assert not server_allowed("https://elsewhere.example/x.corp.example", corp)
    assert not server_allowed("https://gpu.corp.example@elsewhere.example/v1", corp)


def test_the_models_folder_may_name_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.core.policy_rules import organisation_models_folder

    monkeypatch.setenv("SHARE_ROOT", str(tmp_path))
    assert organisation_models_folder(Policy(models_folder="$SHARE_ROOT/models")) == tmp_path / "models"
    assert organisation_models_folder(Policy()) is None
