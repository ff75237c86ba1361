"""The figure of issue 13: every policy key x every source, each key enforced where the window
and the CLI both go through (the loader, the remote engine, the API server, the library scan,
the downloads, the presets, the conversation store, the network gate).

Each case writes one key in a source's own format (a JSON file named by ENCLAVE_POLICY_FILE,
/etc/enclave/policy.json, a macOS profile's plist, Windows registry values), reads it back the
way Enclave does at start, and checks that the key changes what Enclave does. The window's and
the CLI's own checks are in tests/gui/test_policy_window.py and tests/unit/test_cli_policy.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core import paths
from app.core.policy import KEYS
from tests.policy_fixtures import SOURCES, load_from


def _gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def _offline_only(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    def check() -> None:
        from app.core.net.errors import PolicyOfflineError
        from app.core.net.gate import gate

        assert isinstance(gate().closed_because("search"), PolicyOfflineError)
        assert isinstance(gate().closed_because("download"), PolicyOfflineError)

    return {"offline_only": True}, check


def _allow_downloads(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    def check() -> None:
        from app.core.net.errors import DownloadsOffError
        from app.core.net.gate import gate

        assert gate().closed_because("search") is None  # search still works
        assert isinstance(gate().closed_because("download"), DownloadsOffError)

    return {"allow_downloads": False}, check


def _allowed_models(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    def check() -> None:
        from app.core.downloads import DownloadError
        from app.core.downloads.manager import DownloadManager
        from app.core.engine.loader import ModelNotAllowed, check_allowed, load_model

        refused = _gguf(tmp / "Downloads" / "gemma-3-270m.gguf")
        allowed = _gguf(paths.default_models_dir() / "HuggingFaceTB" / "SmolLM2" / "SmolLM2-135M.gguf")
        check_allowed(allowed)
        with pytest.raises(ModelNotAllowed, match="does not allow the model gemma-3-270m.gguf"):
            load_model(None, refused)  # type: ignore[arg-type]  # refused before any engine call
        manager = DownloadManager(store=tmp / "downloads.json")
        with pytest.raises(DownloadError, match="cannot be downloaded"):
            manager.add("google/gemma-3-270m", "gemma-3-270m.gguf")

    return {"allowed_models": ["HuggingFaceTB/*"]}, check


def _models_folder(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    shared = tmp / "share"
    model = _gguf(shared / "acme" / "Helper-GGUF" / "helper-Q4_K_M.gguf")

    def check() -> None:
        from app.core.library import delete_model, scan_library
        from app.core.policy_rules import download_refusal
        from app.core.settings import Settings

        found = [m for m in scan_library(Settings(scan_other_apps=False)) if m.path == model]
        assert len(found) == 1 and found[0].source == "organisation"
        assert found[0].repo_id == "acme/Helper-GGUF" and not found[0].deletable
        with pytest.raises(Exception, match="will not delete it"):
            delete_model(found[0])
        assert model.is_file()
        assert download_refusal(shared, "a/b", "c.gguf")  # never a download target

    return {"models_folder": str(shared)}, check


def _allowed_servers(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    def check() -> None:
        from app.core.engine.base import EngineError
        from app.core.engine.remote import RemoteEngine

        with pytest.raises(EngineError, match="does not allow the server") as caught:
            RemoteEngine("https://api.elsewhere.example/v1")
        assert caught.value.kind == "not_allowed"
        RemoteEngine("https://llm.corp.example/v1").shutdown()  # allowed: it is made

    return {"allowed_servers": ["https://llm.corp.example"]}, check


def _allow_api(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    def check() -> None:
        from app.core.api.server import ApiServer, ApiServerError

        server = ApiServer(None, "127.0.0.1", 0, "key")  # type: ignore[arg-type]
        with pytest.raises(ApiServerError, match="turned off the local API"):
            server.start()
        assert not server.running

    return {"allow_api": False}, check


def _api_hosts(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    def check() -> None:
        from app.core.api.server import ApiServer, ApiServerError

        with pytest.raises(ApiServerError, match="does not allow the API on 0.0.0.0"):
            ApiServer(None, "0.0.0.0", 0, "key").start()  # type: ignore[arg-type]

    return {"api_hosts": ["127.0.0.1"]}, check


def _default_model(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    model = _gguf(paths.default_models_dir() / "acme" / "Helper-GGUF" / "helper.gguf")

    def check() -> None:
        from app.core.policy_rules import find_default_model

        assert find_default_model() == model

    return {"default_model": "acme/Helper-GGUF/helper.gguf"}, check


def _default_preset(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    def check() -> None:
        from app.core.chat import presets

        assert presets.default_preset().name == "Summarize"

    return {"default_preset": "summarize"}, check


def _keep_history(tmp: Path) -> tuple[dict[str, Any], Callable[[], None]]:
    def check() -> None:
        from app.core.chat.store import ChatStore

        store = ChatStore()
        conversation = store.create_conversation("secret plans")
        store.add_message(conversation.id, "user", "the secret")
        assert [m.content for m in store.messages(conversation.id)] == ["the secret"]
        store.close()
        assert not store.keeps_history
        written = [p for p in paths.data_dir().rglob("*") if p.is_file()]
        assert not paths.database_path().exists() and not written, written
        again = ChatStore()
        assert again.list_conversations() == []  # gone when Enclave closes
        again.close()

    return {"keep_history": False}, check


CASES: dict[str, Callable[[Path], tuple[dict[str, Any], Callable[[], None]]]] = {
    "offline_only": _offline_only,
    "allow_downloads": _allow_downloads,
    "allowed_models": _allowed_models,
    "models_folder": _models_folder,
    "allowed_servers": _allowed_servers,
    "allow_api": _allow_api,
    "api_hosts": _api_hosts,
    "default_model": _default_model,
    "default_preset": _default_preset,
    "keep_history": _keep_history,
}


def test_every_key_has_a_case() -> None:
    assert list(CASES) == list(KEYS)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("key", KEYS)
def test_key_from_source_is_enforced(
    key: str, source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys, check = CASES[key](tmp_path)
    loaded = load_from(source, monkeypatch, tmp_path, **keys)
    assert loaded.problems == () and loaded.set_keys() == [key]
    assert loaded.sources[key]
    check()


# Without a policy the API checks would start a real server; test_policy_rules shows that
# api_refusal lets it start when the keys are not set.
@pytest.mark.parametrize("key", [k for k in KEYS if k not in ("allow_api", "api_hosts")])
def test_without_the_key_the_same_check_fails(key: str, tmp_path: Path) -> None:
    """The cases test the key, not something that holds anyway."""
    _keys, check = CASES[key](tmp_path)
    with pytest.raises((Exception, pytest.fail.Exception)):
        check()
