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

from app.core.api.controller import ApiController
from app.core.engine.queue import API, EngineQueue
from app.core.engine.service import EngineService
from app.core.secrets import API_KEY_USERNAME, SERVICE
from app.core.settings import SettingsStore
from app.ui.api_badge import ApiBadge, badge_text
from app.ui.dispatch import gui_call_soon
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


@pytest.fixture
def controllers() -> Any:
    """ApiControllers made by a test, closed at its end (as the window closes its own)."""
    made: list[ApiController] = []

    def make(store: SettingsStore, service: EngineService) -> ApiController:
        controller = ApiController(store, service, call_soon=gui_call_soon)
        made.append(controller)
        return controller

    yield make
    for controller in made:
        controller.close()


def test_switch_starts_the_api_with_a_new_key_and_stops_it(
    qtbot: Any, memory_keyring: MemoryKeyring, tmp_path: Path, service: EngineService,
    monkeypatch: pytest.MonkeyPatch, controllers: Any,
) -> None:
    monkeypatch.delenv("ENCLAVE_API_KEY", raising=False)
    store = SettingsStore(tmp_path / "settings.json")
    store.update(api_port=_free_port())
    section = ApiSettingsSection(store, controllers(store, service))
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
    qtbot: Any, memory_keyring: MemoryKeyring, tmp_path: Path, service: EngineService, controllers: Any
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        store = SettingsStore(tmp_path / "settings.json")
        store.update(api_port=int(taken.getsockname()[1]), api_enabled=True)
        controller = controllers(store, service)
        controller.start_if_enabled()  # on at start (the window does this after its first paint)
        section = ApiSettingsSection(store, controller)
        qtbot.addWidget(section)
        qtbot.waitUntil(lambda: "already in use" in section.state_label.text(), timeout=15_000)
        assert section.server is None


def test_the_api_left_on_serves_after_a_restart_and_the_window_shows_its_use(
    qtbot: Any, memory_keyring: MemoryKeyring, make_window: Any, monkeypatch: pytest.MonkeyPatch,
    instruct_model_path: Path,
) -> None:
    """Turned on in an earlier session: the window serves again at start, without the Settings
    page being opened, and its badge counts the programs' requests."""
    monkeypatch.setenv("ENCLAVE_API_KEY", "restart-key")
    port = _free_port()
    first = make_window()
    first.settings_store.update(api_port=port, api_enabled=True)
    first.close()

    window = make_window()
    qtbot.waitUntil(lambda: window.api.server is not None, timeout=15_000)
    assert window.api.server.port == port
    assert window.findChild(ApiSettingsSection) is None  # Settings was never opened
    window.open_model(instruct_model_path)
    qtbot.waitUntil(lambda: window.service.is_ready, timeout=60_000)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="restart-key", max_retries=0)
    seen: list[str] = []
    window.service.queue.activity.connect(lambda *_a: seen.append(window.api_badge.text()))
    done = threading.Event()

    def ask() -> None:
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "Count to ten."}], max_tokens=24
        )
        done.set()

    threading.Thread(target=ask, daemon=True).start()
    qtbot.waitUntil(lambda: window.api_badge.text().startswith("API: 1 answering"), timeout=30_000)
    assert window.api_badge.isVisible()
    qtbot.waitUntil(done.is_set, timeout=60_000)
    qtbot.waitUntil(lambda: not window.api_badge.isVisible(), timeout=5_000)
