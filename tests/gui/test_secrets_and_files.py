"""Secrets never reach a file, and Enclave's files are its owner's only.

A recognisable fake Hugging Face token, company-server key and local-API key sit in a test
keyring (outside ENCLAVE_HOME); then the real app runs the paths that use them: the window with
a chat and its API server (a request with the key, one with a wrong key), the CLI (a chat, a
chat with an unreachable server that needs its key, a search and a gated download that fails
with the token), the API server command. Afterwards every byte of every file under
ENCLAVE_HOME (logs, settings, databases, caches, crash logs) is searched: 0 hits. Logs,
settings and databases are 0600, Enclave's folders 0700.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.core import paths, secrets
from tests.fakehub import FakeHub
from tests.gui.events import wait_event

REPO = Path(__file__).resolve().parents[2]
HF_TOKEN = "hf_EnclaveFakeTokenQ7xZ0123456789abcdef"
SERVER_KEY = "sk-EnclaveFakeServerKeyW4v0123456789"
API_KEY = "enclave-EnclaveFakeApiKeyK2p0123456789abcd"
SERVER_URL = "http://127.0.0.1:9/v1"  # nothing listens: the request fails after using the key
SECRETS = {"HF token": HF_TOKEN, "server key": SERVER_KEY, "API key": API_KEY}


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import keyring

    from tests.secret_keyring import FileKeyring

    store = tmp_path / "outside-home" / "keyring.json"
    store.parent.mkdir()
    monkeypatch.setenv("ENCLAVE_TEST_KEYRING", str(store))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.secret_keyring.FileKeyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield store
    keyring.set_keyring(previous)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Any:
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub.add_repo("acme/secret-model-GGUF", gated="manual")
    hub.add_file("acme/secret-model-GGUF", "secret-model-Q4_K_M.gguf", b"GGUF" + b"\0" * 4096)
    hub.add_file("acme/open-model-GGUF", "open-model-Q4_K_M.gguf", b"GGUF" + b"\0" * 4096)
    yield hub
    hub.stop()


def _enclave(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _request(port: int, key: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
    connection.request(
        "POST",
        "/v1/chat/completions",
        body,
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    status = connection.getresponse().status
    connection.close()
    return status


def _window_with_a_chat_and_its_api(qtbot: Any, model: Path) -> None:
    from PySide6.QtCore import Qt

    from app.core.api.server import ApiServer
    from app.core.engine import protocol as p
    from app.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    with wait_event(qtbot, window.service.loaded, timeout=120_000):
        window.open_model(model)
    window.session.base_sampling = p.SamplingParams(max_tokens=4, seed=1)
    with wait_event(qtbot, window.session.answer_finished, timeout=120_000):
        window.composer.edit.setPlainText("Say hi.")
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    server = ApiServer(window.service, "127.0.0.1", 0, secrets.get_api_key() or "")
    server.start()
    try:
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        assert _request(port, "enclave-wrong-key") == 401
        with qtbot.waitCallback(timeout=120_000) as done:  # the GUI thread keeps serving the queue
            import threading

            threading.Thread(target=lambda: done(_request(port, API_KEY)), daemon=True).start()
        assert done.args == [200]
    finally:
        server.stop()
    window.close()


def _serve_command(model: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--model",
            str(model),
            "--port",
            "0",
            "--threads",
            "1",
            "--ctx",
            "512",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 180
        port = 0
        while time.monotonic() < deadline and not port:
            line = process.stdout.readline()
            assert line, "the server command ended early"
            if line.startswith("Serving "):
                port = int(line.split("http://127.0.0.1:", 1)[1].split("/")[0])
        assert port, "the server never said where it listens"
        assert _request(port, API_KEY) == 200
        assert _request(port, "enclave-wrong-key") == 401
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def _everything_enclave_wrote(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


@pytest.mark.timeout(900)
def test_no_secret_in_any_file_and_files_are_owner_only(
    qtbot: Any, keyring_file: Path, hub: FakeHub, enclave_home: Path, instruct_model_path: Path
) -> None:
    secrets.set_token(HF_TOKEN)
    secrets.set_server_key(SERVER_URL, SERVER_KEY)
    secrets.set_api_key(API_KEY)
    assert secrets.get_token() == HF_TOKEN  # the test keyring is the one in use

    _window_with_a_chat_and_its_api(qtbot, instruct_model_path)
    chat = _enclave(
        "chat", str(instruct_model_path), "--ctx", "512", "--threads", "1", "--max-tokens", "2", "-p", "Hi"
    )
    assert chat.returncode == 0, chat.stderr
    remote = _enclave("chat", "--server", SERVER_URL, "-p", "Hi", "--stall-timeout", "5")
    assert remote.returncode != 0 and "Traceback" not in remote.stderr
    search = _enclave("search", "model")
    assert search.returncode == 0, search.stderr
    gated = _enclave("download", "acme/secret-model-GGUF", "secret-model-Q4_K_M.gguf")
    assert gated.returncode != 0 and "Traceback" not in gated.stderr, gated.stderr
    _serve_command(instruct_model_path)
    for done in (chat, remote, search, gated):  # nor on the screen
        for name, value in SECRETS.items():
            assert value not in done.stdout + done.stderr, f"{name} printed by {done.args[3:5]}"

    written = _everything_enclave_wrote(enclave_home)
    assert any(p.name == "enclave.db" for p in written) and any(p.suffix == ".log" for p in written)
    hits = [
        f"{name} in {path.relative_to(enclave_home)}"
        for path in written
        for name, value in SECRETS.items()
        if value.encode() in path.read_bytes() or value[8:24].encode() in path.read_bytes()
    ]
    assert hits == [], hits

    for folder in (paths.data_dir(), paths.config_dir(), paths.log_dir(), paths.cache_dir()):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    # Logs (the app's and the engine's), the databases and their WAL files, the settings.
    private = [
        p
        for p in written
        if p.parent == paths.log_dir()
        or p.name.endswith((".db", ".db-wal", ".db-shm"))
        or (p.parent == paths.config_dir() and p.suffix == ".json")
    ]
    assert {"enclave.db", "engine-host.log"} <= {p.name for p in private}, private
    loose = [
        f"{p.relative_to(enclave_home)} {oct(stat.S_IMODE(p.stat().st_mode))}"
        for p in private
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    assert loose == [], loose
