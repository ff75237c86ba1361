"""The window obeys the organisation's policy key by key, and Settings shows each key with a
lock and one sentence (the policy comes through ENCLAVE_POLICY_FILE here; every source is
covered by tests/unit/test_policy_matrix.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.core import paths
from app.core.chat.presets import find_preset
from app.core.policy import KEYS
from app.core.settings import Settings, save_settings
from app.ui.main_window import MainWindow
from app.ui.pages.library import NOT_ALLOWED_TEXT
from app.ui.policy_view import LOCK
from tests.fakehub import FakeHub
from tests.gui import conftest_models
from tests.policy_fixtures import use_policy, use_raw_policy_file

fake_hardware = conftest_models.fake_hardware
fake_hub = conftest_models.fake_hub
memory_keyring = conftest_models.memory_keyring
models_window = conftest_models.models_window

TIMEOUT = 20_000


def _gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def _settings(window: Any) -> Any:
    window.show_page("settings")
    return window.models_area.settings


def test_settings_shows_what_the_organisation_set_with_a_lock(
    qtbot: Any, models_window: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_policy(
        monkeypatch, tmp_path,
        offline_only=True, allow_downloads=False, allowed_models=["Qwen/*"],
        models_folder=str(tmp_path / "share"), allowed_servers=[], allow_api=False,
        api_hosts=["127.0.0.1"], default_model="Qwen/x/y.gguf", default_preset="Summarize",
        keep_history=False,
    )
    page = _settings(models_window(offline_mode=False))
    section = page.policy_section
    assert not section.isHidden() and list(section.rows) == list(KEYS)
    for key, row in section.rows.items():
        text = row.text()
        assert text.startswith(LOCK) and text.endswith("."), key
        assert "enclave-policy.json" in row.toolTip()
    assert "No model" not in section.rows["allowed_models"].text()
    # offline_only: the switch shows it on, cannot be changed, and says why
    assert page.offline_check.isChecked() and not page.offline_check.isEnabled()
    assert page.internet_lock is not None and "keeps Enclave offline" in page.internet_lock.text()
    assert page.folder_lock is not None and "only reads" in page.folder_lock.text()
    server = page.server_section
    assert not server.use_switch.isEnabled() and "this computer only" in server.policy_lock.text()
    api = page.api_section
    assert not api.enable_check.isEnabled() and not api.enable_check.isChecked()
    assert not api.network_check.isEnabled()


def test_nothing_set_shows_no_section(qtbot: Any, models_window: Any) -> None:
    page = _settings(models_window())
    assert page.policy_section.isHidden() and page.internet_lock is None
    assert page.offline_check.isEnabled() and page.server_section.use_switch.isEnabled()


def test_a_broken_policy_is_shown_and_read_strictly(
    qtbot: Any, models_window: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_raw_policy_file(monkeypatch, tmp_path, '{"allow_downloads": maybe}')
    window = models_window()
    assert not window.notice.isHidden() and "could not be read in full" in window.notice.text
    page = _settings(window)
    problems = [label.text() for label in page.policy_section.problem_labels]
    assert any("not valid JSON" in text for text in problems)
    assert any("strictest settings" in text for text in problems)
    assert not page.offline_check.isEnabled() and page.offline_check.isChecked()


def test_allow_downloads_off_the_download_buttons_say_why(
    qtbot: Any, fake_hub: FakeHub, models_window: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_hub.add_repo("acme/Tiny-GGUF", card="# Tiny\n")
    fake_hub.add_file("acme/Tiny-GGUF", "tiny-Q4_K_M.gguf", b"GGUF" + os.urandom(500))
    use_policy(monkeypatch, tmp_path, allow_downloads=False)
    window = models_window()
    page = _settings(window)
    assert page.offline_check.isEnabled()  # search may still go out
    assert page.internet_lock is not None and "turned off downloads" in page.internet_lock.text()
    window.show_page("discover")
    home = window.models_area.discover.home
    qtbot.waitUntil(lambda: bool(home.catalog.buttons), timeout=TIMEOUT)
    assert not any(b.isEnabled() for b in home.catalog.buttons)
    assert "switched model downloads off" in home.catalog.buttons[0].toolTip()
    assert not home.recommend_button.isEnabled()
    model_page = window.models_area.discover.model_page
    window.models_area.discover.open_model("acme/Tiny-GGUF")
    qtbot.waitUntil(lambda: bool(model_page.download_buttons), timeout=TIMEOUT)
    button = model_page.download_buttons["tiny-Q4_K_M.gguf"]
    assert not button.isEnabled() and "switched model downloads off" in button.toolTip()
    assert "switched model downloads off" in model_page.hint.text()


def test_allowed_models_hides_and_refuses(
    qtbot: Any, fake_hub: FakeHub, models_window: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    qwen = "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
    fake_hub.add_repo(qwen, card="# Qwen\n", downloads=9)
    fake_hub.add_file(qwen, "qwen2.5-0.5b-instruct-q4_k_m.gguf", b"GGUF" + bytes(50))
    fake_hub.add_file(qwen, "qwen2.5-0.5b-instruct-q8_0.gguf", b"GGUF" + bytes(90))
    fake_hub.add_repo("google/gemma-GGUF", card="# Gemma\n", downloads=5)
    fake_hub.add_file("google/gemma-GGUF", "gemma-q4_k_m.gguf", b"GGUF" + bytes(50))
    from app.core.catalog import load_catalog

    starters = load_catalog()
    first = starters[0]  # the starter list changes over time: allow its first entry by name
    allowed = ["Qwen/*/*q4_k_m.gguf", f"{first.repo_id}/{first.filename}"]
    use_policy(monkeypatch, tmp_path, allowed_models=allowed)
    refused = _gguf(paths.default_models_dir() / "google" / "gemma-GGUF" / "gemma-q4_k_m.gguf")
    window = models_window()

    # Discover: the starter list, the search results and a model's files show only what is allowed
    window.show_page("discover")
    home = window.models_area.discover.home
    qtbot.waitUntil(lambda: home.catalog.topLevelItemCount() > 0, timeout=TIMEOUT)
    expected = [
        e.repo_id for e in starters
        if e is first or (e.repo_id.startswith("Qwen/") and e.filename.lower().endswith("q4_k_m.gguf"))
    ]
    assert [e.repo_id for e in home.catalog.entries] == expected and len(expected) < len(starters)
    home.search_edit.setText("")
    home.search()
    qtbot.waitUntil(lambda: home.results.topLevelItemCount() > 0 and not home.loading, timeout=TIMEOUT)
    shown = [home.results.topLevelItem(i).data(0, 256) for i in range(home.results.topLevelItemCount())]
    assert shown == ["Qwen/Qwen2.5-0.5B-Instruct-GGUF"]
    model_page = window.models_area.discover.model_page
    window.models_area.discover.open_model("Qwen/Qwen2.5-0.5B-Instruct-GGUF")
    qtbot.waitUntil(lambda: bool(model_page.file_items), timeout=TIMEOUT)
    assert list(model_page.file_items) == ["qwen2.5-0.5b-instruct-q4_k_m.gguf"]
    window.models_area.discover.open_model("google/gemma-GGUF")
    qtbot.waitUntil(lambda: "does not allow any file" in model_page.hint.text(), timeout=TIMEOUT)
    assert not model_page.file_items

    # Library: listed, marked, and Chat cannot open it
    library = window.models_area.library
    window.show_page("library")
    qtbot.waitUntil(lambda: library.tree.topLevelItemCount() == 1, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: len(library.fits) == 1, timeout=TIMEOUT)  # judged: it still says so
    item = library.tree.topLevelItem(0)
    assert item.text(4) == NOT_ALLOWED_TEXT and "does not allow the model" in item.toolTip(0)
    library.tree.setCurrentItem(item)
    assert not library.chat_button.isEnabled()
    assert "does not allow the model google/gemma-GGUF/gemma-q4_k_m.gguf" in library.chat_button.toolTip()

    # Loading it anyway (a dropped file, File > Open) is refused with the reason
    window.show_page("chat")
    window.open_model(refused)
    qtbot.waitUntil(lambda: not window.notice.isHidden(), timeout=TIMEOUT)
    assert "does not allow the model google/gemma-GGUF/gemma-q4_k_m.gguf" in window.notice.text
    assert not window.service.is_ready and window.service.facts is None


def test_models_folder_is_listed_read_only(
    qtbot: Any, models_window: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "share"
    model = _gguf(shared / "acme" / "Helper-GGUF" / "helper-Q4_K_M.gguf")
    use_policy(monkeypatch, tmp_path, models_folder=str(shared))
    window = models_window()
    library = window.models_area.library
    window.show_page("library")
    qtbot.waitUntil(lambda: library.tree.topLevelItemCount() == 1, timeout=TIMEOUT)
    item = library.tree.topLevelItem(0)
    assert item.text(1) == "Organisation" and str(model) in item.toolTip(0)
    library.tree.setCurrentItem(item)
    assert library.chat_button.isEnabled() and not library.delete_button.isEnabled()
    assert library.delete_button.toolTip().startswith("Your organisation shares this model")
    page = _settings(window)
    before = window.settings.models_dir
    page.set_models_dir(str(shared / "mine"))
    assert window.settings.models_dir == before and "only reads it" in page.saved_label.text()


def test_allowed_servers(
    qtbot: Any, models_window: Any, memory_keyring: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_policy(monkeypatch, tmp_path, allowed_servers=["llm.corp.example"])
    # A server chosen before the policy came: the window does not use it, and says why.
    window = models_window(engine_mode="server", server_url="http://elsewhere.example:8000")
    qtbot.waitUntil(lambda: not window.notice.isHidden(), timeout=TIMEOUT)
    assert "does not allow the server http://elsewhere.example:8000/v1" in window.notice.text
    assert not window.service.is_remote
    server = _settings(window).server_section
    assert "allows only these servers: llm.corp.example" in server.policy_lock.text()
    server.address_edit.setText("http://other.example")
    server.save_address()
    assert "does not allow the server" in server.status.text()
    assert window.settings.server_url == "http://elsewhere.example:8000"
    server.address_edit.setText("http://llm.corp.example:8000")
    server.save_address()
    assert window.settings.server_url == "http://llm.corp.example:8000"


def test_allow_api_and_api_hosts(
    qtbot: Any, models_window: Any, memory_keyring: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_policy(monkeypatch, tmp_path, allow_api=False)
    window = models_window(api_enabled=True, api_port=0)
    window.api.start_if_enabled()
    qtbot.waitUntil(lambda: "turned off the local API" in window.api.state, timeout=TIMEOUT)
    assert window.api.server is None
    api = _settings(window).api_section
    assert not api.enable_check.isEnabled() and not api.enable_check.isChecked()
    window.close()


def test_api_hosts_keeps_the_api_on_this_computer(
    qtbot: Any, models_window: Any, memory_keyring: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_policy(monkeypatch, tmp_path, api_hosts=["127.0.0.1"])
    window = models_window(api_enabled=True, api_port=0, api_host="0.0.0.0")
    window.api.start_if_enabled()
    qtbot.waitUntil(lambda: "does not allow the API on 0.0.0.0" in window.api.state, timeout=TIMEOUT)
    assert window.api.server is None
    api = _settings(window).api_section
    assert api.enable_check.isEnabled() and not api.network_check.isEnabled()
    assert not api.network_check.isChecked()
    window.close()


def test_default_model_opens_at_start(
    qtbot: Any, models_window: Any, instruct_model_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    placed = paths.default_models_dir() / "HuggingFaceTB" / "SmolLM2-GGUF" / instruct_model_path.name
    placed.parent.mkdir(parents=True)
    placed.symlink_to(instruct_model_path)
    use_policy(monkeypatch, tmp_path, default_model=f"HuggingFaceTB/SmolLM2-GGUF/{instruct_model_path.name}")
    window = models_window()
    qtbot.waitUntil(lambda: window.service.model_path == placed, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.service.is_ready, timeout=60_000)
    window.close()


def test_default_preset_starts_new_chats(
    qtbot: Any, models_window: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_policy(monkeypatch, tmp_path, default_preset="Summarize")
    window = models_window()
    summarize = find_preset("Summarize")
    assert summarize is not None
    window.session.new_chat()
    assert window.session.chat_settings()[0] == summarize.system_prompt


def test_keep_history_off_writes_no_conversation(
    qtbot: Any, fake_hardware: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_policy(monkeypatch, tmp_path, keep_history=False)
    save_settings(Settings(scan_other_apps=False))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # SQLite's ":memory:" must not become a file where the app runs
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert not window.store.keeps_history
    lock = window.sidebar.history_lock
    assert lock is not None and not lock.isHidden() and "not saved" in lock.text()
    conversation = window.store.create_conversation("plans")
    window.store.add_message(conversation.id, "user", "a secret")
    window.chat.refresh_list()
    assert window.sidebar.list.count() == 1
    window.close()
    assert not paths.database_path().exists()
    # the documents index (documents.db) holds documents the user chose to index, not chats
    assert not [p for p in paths.data_dir().rglob("enclave.db*")]
    assert not list(workdir.iterdir())
