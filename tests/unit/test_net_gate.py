"""The one network gate (app/core/net): who closes it, what it stops, what closing does.

Real huggingface_hub against the fake hub; "nothing sent" is the fake hub's own request log.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import hub, policy
from app.core.downloads import DownloadManager, download_model
from app.core.net.errors import EnvironmentOfflineError
from app.core.net.gate import gate
from app.core.settings import Settings, SettingsStore
from tests.fakehub import FakeHub

REPO = "acme/tiny-GGUF"
NAME = "tiny-Q4_K_M.gguf"


@pytest.fixture
def populated(fake_hub: FakeHub) -> FakeHub:
    fake_hub.add_repo(REPO, card="# Tiny\nA card.")
    fake_hub.add_file(REPO, NAME, b"GGUF" + bytes(4000))
    return fake_hub


@pytest.fixture
def set_policy(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Put a policy in force (as app.core.policy would after reading IT's sources)."""

    def put(**keys: Any) -> None:
        monkeypatch.setattr(policy, "_current", policy.Policy(**keys))
        gate().refresh()

    return put


def _all_four(models: Path) -> dict[str, Callable[[], object]]:
    return {
        "search": lambda: hub.search_models("tiny"),
        "listing": lambda: hub.model_files(REPO),
        "card": lambda: hub.model_card(REPO),
        "download": lambda: download_model(REPO, NAME, models_dir=models),
    }


@pytest.mark.parametrize("closer", ["settings", "environment", "policy"])
def test_a_closed_gate_stops_search_listing_card_and_download_before_any_socket(
    closer: str,
    populated: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    set_policy: Callable[..., None],
) -> None:
    if closer == "settings":
        gate().attach(SettingsStore(settings=Settings(offline_mode=True)))
        expected = "Offline mode is on"
    elif closer == "environment":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        expected = "HF_HUB_OFFLINE is set"
    else:
        set_policy(offline_only=True)
        expected = "Your organisation has set Enclave to work offline"
    for purpose, call in _all_four(tmp_path / "models").items():
        with pytest.raises(hub.OfflineError, match=expected):
            call()
        assert populated.requests == [], purpose
    assert not (tmp_path / "models").exists()


def test_the_policy_can_switch_downloads_off_and_leave_search_on(
    populated: FakeHub, tmp_path: Path, set_policy: Callable[..., None]
) -> None:
    set_policy(allow_downloads=False)
    assert [m.repo_id for m in hub.search_models("tiny")] == [REPO]
    assert hub.model_files(REPO).files
    with pytest.raises(hub.DownloadsOffError, match="switched model downloads off"):
        download_model(REPO, NAME, models_dir=tmp_path / "models")
    assert not any("/resolve/" in p or "/cdn/" in p for _m, p, _h in populated.requests)


def test_a_library_call_that_skips_the_gate_is_still_stopped(populated: FakeHub) -> None:
    """huggingface_hub's own client asks the gate per request (app/core/net/transport.py)."""
    from huggingface_hub import HfApi

    hub.search_models("tiny")  # the client is ours from here on
    populated.requests.clear()
    gate().attach(SettingsStore(settings=Settings(offline_mode=True)))
    with pytest.raises(hub.OfflineError):
        list(HfApi(endpoint=populated.url, token=False).list_models(search="tiny"))
    assert populated.requests == []


def test_going_offline_is_process_wide_and_going_online_restores_it(
    populated: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    store = SettingsStore(settings=Settings())
    gate().attach(store)
    seen: list[int] = []
    gate().changed.connect(lambda: seen.append(1))
    store.update(offline_mode=True)
    assert os.environ.get("HF_HUB_OFFLINE") == "1" and constants.HF_HUB_OFFLINE is True
    assert constants.is_offline_mode()
    store.update(offline_mode=False)
    assert "HF_HUB_OFFLINE" not in os.environ and constants.HF_HUB_OFFLINE is False
    assert len(seen) == 2
    assert [m.repo_id for m in hub.search_models("tiny")] == [REPO]


def test_an_hf_hub_offline_set_from_outside_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = SettingsStore(settings=Settings())
    gate().attach(store)
    store.update(offline_mode=True)
    store.update(offline_mode=False)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert isinstance(gate().closed_because("search"), EnvironmentOfflineError)


def test_telemetry_is_off_on_the_search_listing_and_card_paths(
    populated: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    calls = (lambda: hub.search_models("tiny"), lambda: hub.model_files(REPO), lambda: hub.model_card(REPO))
    for call in calls:
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", False)
        call()
        assert constants.HF_HUB_DISABLE_TELEMETRY is True
        assert constants.HF_HUB_DISABLE_IMPLICIT_TOKEN is True


# -- downloads pause, they do not fail --------------------------------------------------------
@pytest.fixture
def slow_file(fake_hub: FakeHub) -> Iterator[tuple[FakeHub, bytes]]:
    data = b"GGUF" + os.urandom(1_500_000)
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, NAME, data)
    fake_hub.faults.throttle_bps = 1_000_000  # about 1.5 s for the whole file
    yield fake_hub, data


def test_going_offline_pauses_a_running_download_and_going_online_finishes_it(
    slow_file: tuple[FakeHub, bytes], tmp_path: Path
) -> None:
    fake, data = slow_file
    models = tmp_path / "models"
    store = SettingsStore(settings=Settings(models_dir=str(models)))
    gate().attach(store)
    manager = DownloadManager(settings=store.current, store=tmp_path / "queue.json")
    job = manager.add(REPO, NAME)
    ran: list[Any] = []
    worker = threading.Thread(target=lambda: ran.append(manager.run_next()))
    worker.start()
    deadline = time.monotonic() + 20
    while (manager.get(job.id).downloaded or 0) < 200_000:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the download did not start"
        time.sleep(0.02)
    store.update(offline_mode=True)  # the user goes offline mid-download
    worker.join(5)
    assert not worker.is_alive(), "the download did not stop when the gate closed"
    waiting = ran[0]
    assert waiting.state == "queued" and waiting.error == ""  # waiting, not failed
    kept = waiting.downloaded
    assert 0 < kept < len(data)
    requests_when_closed = len(fake.requests)
    assert manager.run_next() is None  # nothing starts while the gate is closed
    time.sleep(0.3)
    assert len(fake.requests) == requests_when_closed  # and nothing more was asked for
    store.update(offline_mode=False)
    done = manager.run_next()
    assert done is not None and done.state == "done"
    final = Path(done.path)
    assert hashlib.sha256(final.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    ranges = [h.get("range", "") for m, p, h in fake.requests if m == "GET" and p.startswith("/cdn/")]
    assert ranges[-1].startswith("bytes=") and int(ranges[-1][6:].split("-")[0]) > 0, ranges  # resumed
