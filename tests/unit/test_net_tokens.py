"""The Hugging Face token: only the user's own (saved in Enclave), only where a repo asks for it.

The fake hub records every request's headers, so "no identity goes with a search" is read off
what really arrived. Another tool's token is laid out the way those tools leave it: `HF_TOKEN`
in the environment and the plaintext file in the Hugging Face folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import hub, secrets
from app.core.downloads import download_model
from app.core.net import tokens
from app.core.net.gate import gate
from app.core.settings import Settings, SettingsStore
from tests.fakehub import FakeHub
from tests.unit.conftest import MemoryKeyring

PUBLIC = "acme/tiny-GGUF"
GATED = "meta/gated-GGUF"
PRIVATE = "acme/private-GGUF"
NAME = "m-Q4_K_M.gguf"
DATA = b"GGUF" + bytes(3000)
OTHER_TOKEN = "hf_left_by_another_tool"
SAVED_TOKEN = "hf_saved_in_enclave"


@pytest.fixture
def repos(fake_hub: FakeHub) -> FakeHub:
    fake_hub.add_repo(PUBLIC)
    fake_hub.add_file(PUBLIC, NAME, DATA)
    fake_hub.add_repo(GATED, gated="manual")
    fake_hub.add_file(GATED, NAME, DATA)
    fake_hub.add_file(GATED, "m-Q8_0.gguf", DATA + b"8")
    fake_hub.add_repo(PRIVATE, private=True)
    fake_hub.add_file(PRIVATE, NAME, DATA)
    return fake_hub


@pytest.fixture
def other_tools_token(monkeypatch: pytest.MonkeyPatch, enclave_home: Path) -> Path:
    """HF_TOKEN and the token file, as `hf auth login` and scripts leave them."""
    monkeypatch.setenv("HF_TOKEN", OTHER_TOKEN)
    token_file = Path(enclave_home / "hf-home" / "token")  # HF_HOME is set per test
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(OTHER_TOKEN)
    return token_file


def _auth(fake: FakeHub) -> list[str | None]:
    return [headers.get("authorization") for _m, _p, headers in fake.requests]


def test_searches_and_public_downloads_go_anonymously_even_with_tokens_around(
    repos: FakeHub, other_tools_token: Path, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    secrets.set_token(SAVED_TOKEN)  # even the user's own saved token stays home
    assert [m.repo_id for m in hub.SearchPager("GGUF").next_page()]
    hub.model_files(PUBLIC)
    hub.model_card(PUBLIC)
    download_model(PUBLIC, NAME, models_dir=tmp_path / "models")
    assert repos.requests and _auth(repos) == [None] * len(repos.requests)


def test_a_gated_download_sends_the_saved_token_after_the_hub_asks_for_it(
    repos: FakeHub, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    secrets.set_token(SAVED_TOKEN)
    repos.allowed_tokens.add(SAVED_TOKEN)
    path = download_model(GATED, NAME, models_dir=tmp_path / "models")
    assert path.read_bytes() == DATA
    resolves = [(h.get("authorization"), p) for m, p, h in repos.requests if "/resolve/" in p]
    assert resolves[0][0] is None  # anonymous first: the hub answered 401
    assert resolves[-1][0] == f"Bearer {SAVED_TOKEN}"
    repos.requests.clear()
    download_model(GATED, "m-Q8_0.gguf", models_dir=tmp_path / "models")
    resolves = [h.get("authorization") for m, p, h in repos.requests if "/resolve/" in p]
    assert resolves == [f"Bearer {SAVED_TOKEN}"] * len(resolves)  # known now: no second 401


def test_a_private_listing_sends_the_saved_token_only_after_401(
    repos: FakeHub, memory_keyring: MemoryKeyring
) -> None:
    secrets.set_token(SAVED_TOKEN)
    repos.allowed_tokens.add(SAVED_TOKEN)
    assert hub.model_files(PRIVATE).files
    assert _auth(repos) == [None, f"Bearer {SAVED_TOKEN}"]


def test_another_tools_token_is_never_used_unasked(
    repos: FakeHub, other_tools_token: Path, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    repos.allowed_tokens.add(OTHER_TOKEN)
    with pytest.raises(hub.GatedModelError, match="add your Hugging Face token in Settings"):
        download_model(GATED, NAME, models_dir=tmp_path / "models")
    with pytest.raises(hub.GatedModelError):
        hub.model_files(PRIVATE)
    assert _auth(repos) == [None] * len(repos.requests)


@pytest.mark.parametrize("answer", ["use", "ignore"])
def test_another_tools_token_goes_only_after_the_user_said_yes(
    answer: str,
    repos: FakeHub,
    other_tools_token: Path,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HF_TOKEN")  # the file alone
    repos.allowed_tokens.add(OTHER_TOKEN)
    gate().attach(SettingsStore(settings=Settings(other_hf_token=answer)))
    assert tokens.other_token() == (f"the file {other_tools_token}", OTHER_TOKEN)
    if answer == "use":
        download_model(GATED, NAME, models_dir=tmp_path / "models")
        assert f"Bearer {OTHER_TOKEN}" in _auth(repos)
    else:
        with pytest.raises(hub.GatedModelError):
            download_model(GATED, NAME, models_dir=tmp_path / "models")
        assert _auth(repos) == [None] * len(repos.requests)
    hub.search_models("GGUF")
    assert repos.requests[-1][2].get("authorization") is None  # a search: never


def test_no_token_anywhere_says_what_to_do(repos: FakeHub, memory_keyring: MemoryKeyring) -> None:
    assert tokens.other_token() is None
    with pytest.raises(hub.GatedModelError) as caught:
        hub.model_files(PRIVATE)
    assert "add your Hugging Face token in Settings" in str(caught.value)
