"""Settings -> Company server, driven like a person would, against a real llama_cpp.server on
127.0.0.1: settings go through the SettingsStore, the key only into the (in-memory) keyring,
and "Test" lists the server's models off the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app.core.secrets import get_server_key
from app.core.settings import SettingsStore, load_settings
from app.ui.pages.server_settings import ServerSettingsSection
from tests.hub_fixtures import MemoryKeyring, memory_keyring
from tests.llama_server import LlamaServer

__all__ = ["memory_keyring"]

KEY = "gui-test-key"
ALIAS = "company-model"


def test_server_section_saves_settings_and_the_key_and_tests_the_server(
    qtbot: Any, memory_keyring: MemoryKeyring, tmp_path: Path, instruct_model_path: Path
) -> None:
    settings_file = tmp_path / "settings.json"
    store = SettingsStore(settings_file)
    section = ServerSettingsSection(store)
    qtbot.addWidget(section)
    section.show()
    qtbot.waitUntil(lambda: section.key_saved is False)

    qtbot.mouseClick(section.use_switch, Qt.MouseButton.LeftButton)
    assert store.current.engine_mode == "server"

    section.address_edit.setText("http://box:port")
    section.save_address()
    assert "is not a server address" in section.status.text() and store.current.server_url == ""

    with LlamaServer(instruct_model_path, alias=ALIAS, api_key=KEY, n_threads=1) as server:
        address = f"http://127.0.0.1:{server.port}"
        section.address_edit.setText(address)
        section.save_address()
        assert store.current.server_url == address

        section.key_edit.setText(KEY)
        section.save_key()
        assert section.key_edit.text() == ""  # the box never keeps the key
        # The keyring write runs on the worker pool, which may still be busy asking the server
        # (just started, one thread) for its models: give it time on a loaded machine.
        qtbot.waitUntil(lambda: section.key_saved is True, timeout=30_000)
        assert get_server_key(address) == KEY and "password store" in section.status.text()
        assert KEY not in settings_file.read_text(encoding="utf-8")

        qtbot.mouseClick(section.test_button, Qt.MouseButton.LeftButton)
        assert not section.test_button.isEnabled()
        qtbot.waitUntil(lambda: section.test_button.isEnabled(), timeout=30_000)
        assert section.status.text().startswith("✓ Connected to 127.0.0.1:"), section.status.text()
        assert [section.model_combo.itemText(i) for i in range(section.model_combo.count())] == [ALIAS]
        assert store.current.server_model == ALIAS and load_settings(settings_file).server_model == ALIAS

        section.forget_key()
        qtbot.waitUntil(lambda: section.key_saved is False)
        assert get_server_key(address) is None
        qtbot.mouseClick(section.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: section.test_button.isEnabled(), timeout=30_000)
        assert "needs a key" in section.status.text()

    qtbot.mouseClick(section.embed_server, Qt.MouseButton.LeftButton)
    assert store.current.server_embeddings
    qtbot.mouseClick(section.embed_local, Qt.MouseButton.LeftButton)
    assert not store.current.server_embeddings

    store.update(engine_mode="local")  # changed elsewhere: the section follows
    assert not section.use_switch.isChecked()
