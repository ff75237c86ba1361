"""Settings -> Other programs (the local API) and the "API: 1 answering" badge, with the real
server on 127.0.0.1, the real openai client, and an in-memory keyring."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import openai
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QWidget

from app.core.engine.queue import API, EngineQueue
from app.core.engine.service import EngineService
from app.core.secrets import API_KEY_USERNAME, SERVICE
from app.core.settings import SettingsStore
from app.ui.api_badge import ApiBadge, badge_text
from app.ui.pages.api_settings import ApiSettingsSection
from tests.hub_fixtures import MemoryKeyring, memory_keyring

__all__ = ["memory_keyring"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_badge_counts_api_jobs_from_the_worker_thread(qtbot: Any) -> None:
    assert badge_text(0, 0) == "" and badge_text(1, 3) == "API: 1 answering, 3 waiting"
    queue = EngineQueue(lambda: None)  # type: ignore[arg-type, return-value]
    holder = QWidget()
    qtbot.addWidget(holder)
    badge = ApiBadge(queue, holder)
    assert badge.isHidden()
    release = threading.Event()
    jobs = [queue.submit(lambda _e, _t: release.wait(10), priority=API) for _ in range(3)]
    qtbot.waitUntil(lambda: badge.text() == "API: 1 answering, 2 waiting")
    assert not badge.isHidden()
    release.set()
    for job in jobs:
        job.result(timeout=10)
    qtbot.waitUntil(lambda: badge.isHidden())
    queue.close()


@pytest.fixture
def service() -> Any:
    svc = EngineService()  # no model: the API answers /v1/models and says plainly it has none
    yield svc
    svc.shutdown()


def test_switch_starts_the_api_with_a_new_key_and_stops_it(
    qtbot: Any, memory_keyring: MemoryKeyring, tmp_path: Path, service: EngineService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENCLAVE_API_KEY", raising=False)
    store = SettingsStore(tmp_path / "settings.json")
    store.update(api_port=_free_port())
    section = ApiSettingsSection(store, service)
    qtbot.addWidget(section)
    section.show()
    assert section.server is None and not section.enable_check.isChecked()

    qtbot.mouseClick(section.enable_check, Qt.MouseButton.LeftButton)
    assert store.current.api_enabled
    qtbot.waitUntil(lambda: section.server is not None, timeout=15_000)
    server = section.server
    key = memory_keyring.store[(SERVICE, API_KEY_USERNAME)]
    assert section.key_edit.text() == key and section.key_edit.echoMode() == QLineEdit.EchoMode.Normal
    assert section.url_edit.text() == f"http://127.0.0.1:{store.current.api_port}/v1" == server.base_url
    assert key not in (tmp_path / "settings.json").read_text(encoding="utf-8")
    client = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["all-MiniLM-L6-v2-Q8_0"]
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503

    qtbot.mouseClick(section.new_key_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: section.key_edit.text() != key)
    new_key = section.key_edit.text()
    assert memory_keyring.store[(SERVICE, API_KEY_USERNAME)] == new_key
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert openai.OpenAI(base_url=server.base_url, api_key=new_key, max_retries=0).models.list().data

    other_port = _free_port()
    section.port_spin.setValue(other_port)  # the server moves to the new port
    qtbot.waitUntil(lambda: section.server is not None and section.server.port == other_port, timeout=15_000)
    assert section.key_edit.echoMode() == QLineEdit.EchoMode.Password  # an old key is not shown again

    qtbot.mouseClick(section.enable_check, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: section.server is None and section.state_label.text() == "Off.", timeout=15_000)
    with pytest.raises(openai.APIConnectionError):
        gone = openai.OpenAI(base_url=f"http://127.0.0.1:{other_port}/v1", api_key=new_key, max_retries=0)
        gone.models.list()

    assert section.network_warning.isHidden()
    qtbot.mouseClick(section.network_check, Qt.MouseButton.LeftButton)
    assert store.current.api_host == "0.0.0.0" and not section.network_warning.isHidden()
    qtbot.mouseClick(section.network_check, Qt.MouseButton.LeftButton)
    assert store.current.api_host == "127.0.0.1" and section.server is None  # still off


def test_a_busy_port_is_said_plainly(
    qtbot: Any, memory_keyring: MemoryKeyring, tmp_path: Path, service: EngineService
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        store = SettingsStore(tmp_path / "settings.json")
        store.update(api_port=int(taken.getsockname()[1]), api_enabled=True)
        section = ApiSettingsSection(store, service)  # on at start: it starts the server itself
        qtbot.addWidget(section)
        qtbot.waitUntil(lambda: "already in use" in section.state_label.text(), timeout=15_000)
        assert section.server is None
