"""Downloads against the fake hub: resume, verify, cancel, gated, 404, disk space, path safety."""

from __future__ import annotations

import os
import threading
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from app.core import downloads
from app.core.downloads import (
    CancelToken,
    DownloadCancelled,
    DownloadManager,
    NotEnoughSpaceError,
    Progress,
    UnsafePathError,
    VerificationError,
    download_model,
)
from app.core.hub import GatedModelError, NetworkError, NotFoundError
from app.core.library import scan_library
from app.core.settings import Settings
from tests.fakehub import FakeHub

REPO = "acme/tiny-GGUF"
NAME = "tiny-Q4_K_M.gguf"
SIZE = 3_000_000
FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture
def data() -> bytes:
    return b"GGUF" + os.urandom(SIZE - 4)


@pytest.fixture
def hub(fake_hub: FakeHub, data: bytes) -> FakeHub:
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, NAME, data)
    return fake_hub


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def _settings(models: Path) -> Settings:
    return Settings(models_dir=str(models), scan_other_apps=False)


def _file_gets(hub: FakeHub) -> list[dict[str, str]]:
    return [h for method, path, h in hub.requests if method == "GET" and path.startswith("/cdn/")]


def _leftovers(models: Path) -> list[Path]:
    return [p for p in (models / ".downloads").rglob("*") if p.is_file()]


def test_download_places_verified_file_with_progress(
    hub: FakeHub, models: Path, data: bytes
) -> None:
    seen: list[Progress] = []
    path = download_model(REPO, NAME, settings=_settings(models), on_progress=seen.append)
    assert path == (models / REPO / NAME).resolve()
    assert path.read_bytes() == data
    assert seen[0].state == "checking" and seen[-1].state == "done"
    assert seen[-1].downloaded == seen[-1].total == SIZE
    assert "verifying" in {p.state for p in seen}
    assert not (models / ".downloads").exists()
    assert [m.path for m in scan_library(_settings(models))] == [path]
    # already there: no second transfer
    before = len(_file_gets(hub))
    assert download_model(REPO, NAME, settings=_settings(models)) == path
    assert len(_file_gets(hub)) == before


def test_a_file_already_there_with_the_right_size_but_other_bytes_is_replaced(
    hub: FakeHub, models: Path, data: bytes
) -> None:
    """Same size is not same file: a damaged or other version of the file at the final place
    is hashed, found wrong and downloaded again; the right one is accepted without a transfer."""
    final = models / REPO / NAME
    final.parent.mkdir(parents=True)
    final.write_bytes(b"GGUF" + bytes(SIZE - 4))  # right size, wrong bytes
    path = download_model(REPO, NAME, settings=_settings(models))
    assert path.read_bytes() == data
    assert len(_file_gets(hub)) >= 1
    before = len(_file_gets(hub))
    seen: list[Progress] = []
    assert download_model(REPO, NAME, settings=_settings(models), on_progress=seen.append) == path
    assert len(_file_gets(hub)) == before and [p.state for p in seen] == ["verifying", "done"]


def test_connection_drop_mid_file_resumes(hub: FakeHub, models: Path, data: bytes) -> None:
    hub.faults.drop_after = 1_200_000
    hub.faults.drop_times = 2
    path = download_model(REPO, NAME, settings=_settings(models), **FAST)
    assert path.read_bytes() == data
    gets = _file_gets(hub)
    assert len(gets) == 3
    assert "range" not in gets[0] and gets[1]["range"].startswith("bytes=")
    assert hub.bytes_sent < SIZE + 1_000_000  # resumed, not restarted


def test_corrupted_bytes_fail_verification_and_nothing_enters_library(
    hub: FakeHub, models: Path
) -> None:
    hub.faults.corrupt = True
    with pytest.raises(VerificationError, match="damaged") as err:
        download_model(REPO, NAME, settings=_settings(models))
    assert "checksum" in str(err.value)
    assert scan_library(_settings(models)) == []
    assert not (models / REPO).exists()
    assert _leftovers(models) == [] if (models / ".downloads").exists() else True


def test_gated_model_401_then_403_then_ok(hub: FakeHub, models: Path, data: bytes) -> None:
    from app.core import secrets

    hub.add_repo("meta/gated-GGUF", gated="manual")
    hub.add_file("meta/gated-GGUF", "g-Q4_K_M.gguf", data[:1000])
    with pytest.raises(GatedModelError) as err:
        download_model("meta/gated-GGUF", "g-Q4_K_M.gguf", settings=_settings(models))
    assert err.value.url == f"{hub.url}/meta/gated-GGUF"
    assert "accept its license" in str(err.value) and "token" in str(err.value)
    secrets.set_token("hf_not_accepted")
    with pytest.raises(GatedModelError, match="accept its license"):
        download_model("meta/gated-GGUF", "g-Q4_K_M.gguf", settings=_settings(models))
    hub.allowed_tokens.add("hf_not_accepted")
    path = download_model("meta/gated-GGUF", "g-Q4_K_M.gguf", settings=_settings(models))
    assert path.read_bytes() == data[:1000]
    assert _file_gets(hub)[-1].get("authorization") == "Bearer hf_not_accepted"


def test_missing_file_and_repo_404(hub: FakeHub, models: Path) -> None:
    with pytest.raises(NotFoundError, match="nope.gguf"):
        download_model(REPO, "nope.gguf", settings=_settings(models))
    with pytest.raises(NotFoundError):
        download_model("acme/missing", NAME, settings=_settings(models))


def test_stalled_server_cancel_within_one_second_then_resume(
    hub: FakeHub, models: Path, data: bytes
) -> None:
    hub.faults.stall_after = 1_000_000
    token = CancelToken()
    started = threading.Event()

    def progress(p: Progress) -> None:
        if p.state == "downloading":
            started.set()

    errors: list[BaseException] = []

    def work() -> None:
        try:
            download_model(
                REPO, NAME, settings=_settings(models), cancel=token, on_progress=progress
            )
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    assert started.wait(10)
    time.sleep(0.3)  # the server is stalled now
    t0 = time.monotonic()
    token.cancel("pause")
    worker.join(5)
    elapsed = time.monotonic() - t0
    assert not worker.is_alive() and elapsed < 1.0, elapsed
    assert isinstance(errors[0], DownloadCancelled) and errors[0].reason == "pause"
    part = downloads.staging_path(models, REPO, NAME)
    kept = part.stat().st_size
    assert 0 < kept <= 1_000_000
    hub.release_stall()
    path = download_model(REPO, NAME, settings=_settings(models))
    assert path.read_bytes() == data
    assert _file_gets(hub)[-1]["range"] == f"bytes={kept}-"


def test_stall_is_retried_after_read_timeout(
    hub: FakeHub, models: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 0.5)
    hub.faults.stall_after = 500_000
    hub.faults.stall_seconds = 3
    path = download_model(REPO, NAME, settings=_settings(models), **FAST)
    assert path.read_bytes() == data


def test_not_enough_disk_space(hub: FakeHub, models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(downloads.placement.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1_000_000))
    with pytest.raises(NotEnoughSpaceError, match="Not enough disk space") as err:
        download_model(REPO, NAME, settings=_settings(models))
    assert err.value.needed == SIZE
    assert _file_gets(hub) == []


@pytest.mark.parametrize(
    "bad",
    ["../escape.gguf", "../../etc/passwd.gguf", "/abs.gguf", "a/../../b.gguf", "a\\..\\b.gguf"],
)
def test_file_name_escaping_models_folder_is_refused(hub: FakeHub, models: Path, bad: str) -> None:
    with pytest.raises(UnsafePathError, match="outside the models folder"):
        download_model(REPO, bad, settings=_settings(models))
    with pytest.raises(UnsafePathError):
        download_model("acme/../..", NAME, settings=_settings(models))
    assert hub.requests == []
    assert not models.exists() or not any(models.parent.glob("*.gguf"))


def test_split_set_downloads_as_one(fake_hub: FakeHub, models: Path) -> None:
    parts = [b"GGUF" + os.urandom(300_000), os.urandom(300_000), os.urandom(100_000)]
    fake_hub.add_repo("acme/split-GGUF")
    for i, blob in enumerate(parts, 1):
        fake_hub.add_file("acme/split-GGUF", f"Q8_0/m-Q8_0-0000{i}-of-00003.gguf", blob)
    path = download_model(
        "acme/split-GGUF", "Q8_0/m-Q8_0-00002-of-00003.gguf", settings=_settings(models)
    )
    assert path.name == "m-Q8_0-00001-of-00003.gguf"
    for i, blob in enumerate(parts, 1):
        assert (path.parent / f"m-Q8_0-0000{i}-of-00003.gguf").read_bytes() == blob
    [entry] = scan_library(_settings(models))
    assert entry.size == sum(map(len, parts)) and len(entry.parts) == 3


def test_gives_up_with_plain_message_after_repeated_failures(hub: FakeHub, models: Path) -> None:
    hub.faults.status["/cdn/" + hub.repos[REPO].files[NAME].sha256] = 503
    with pytest.raises(NetworkError, match="internet connection"):
        download_model(REPO, NAME, settings=_settings(models), max_failures=3, **FAST)


# -- the queue -------------------------------------------------------------------------------
def test_queue_runs_persists_and_resumes_after_restart(
    hub: FakeHub, models: Path, data: bytes
) -> None:
    store = models.parent / "queue.json"
    hub.faults.throttle_bps = 4_000_000
    manager = DownloadManager(settings=_settings(models), store=store)
    job = manager.add(REPO, NAME)
    assert manager.add(REPO, NAME).id == job.id  # no duplicates
    with pytest.raises(UnsafePathError):
        manager.add(REPO, "../x.gguf")

    def pause_soon(p: Progress) -> None:
        if p.downloaded > 500_000:
            manager.pause(p.job_id)

    ran = manager.run_next(pause_soon)
    assert ran is not None and ran.state == "paused" and 0 < ran.downloaded < SIZE
    # "restart": a new manager reads the saved queue
    hub.faults.throttle_bps = None
    again = DownloadManager(settings=_settings(models), store=store)
    assert again.get(job.id).state == "paused"  # type: ignore[union-attr]
    assert again.run_next() is None  # paused jobs wait for resume()
    again.resume(job.id)
    asked_before = len(hub.requests)
    [done] = again.run_all()
    assert done.state == "done" and Path(done.path).read_bytes() == data
    # The resume asked only for the rest: bytes fetched twice < 1 MB. (Counting the server's
    # bytes_sent would be racy: the paused connection may still fill socket buffers.)
    ranged = [h["range"] for m, _p, h in hub.requests[asked_before:] if m == "GET" and "range" in h]
    assert ranged, "the resumed download sent no Range request"
    first_byte = int(ranged[0].split("=")[1].split("-")[0])
    assert first_byte > 0 and ran.downloaded - first_byte < 1_000_000


def test_killed_app_job_is_requeued(hub: FakeHub, models: Path) -> None:
    import json

    store = models.parent / "queue.json"
    manager = DownloadManager(settings=_settings(models), store=store)
    job = manager.add(REPO, NAME)
    raw = json.loads(store.read_text())
    raw["jobs"][0]["state"] = "downloading"  # as left by a killed app
    store.write_text(json.dumps(raw))
    revived = DownloadManager(settings=_settings(models), store=store)
    assert revived.get(job.id).state == "queued"  # type: ignore[union-attr]
    assert revived.run_all()[0].state == "done"


def test_cancel_deletes_partial_and_failure_is_reported(hub: FakeHub, models: Path) -> None:
    store = models.parent / "queue.json"
    hub.faults.stall_after = 600_000
    manager = DownloadManager(settings=_settings(models), store=store)
    job = manager.add(REPO, NAME)
    timer = threading.Timer(0.8, manager.cancel, args=(job.id,))
    timer.start()
    t0 = time.monotonic()
    ran = manager.run_next()
    assert ran is not None and ran.state == "cancelled"
    assert time.monotonic() - t0 < 2.0
    assert not downloads.staging_path(models, REPO, NAME).exists()
    hub.release_stall()
    gated = manager.add("acme/missing", NAME)
    failed = manager.run_next()
    assert failed is not None and failed.id == gated.id and failed.state == "failed"
    assert "not found" in failed.error
    manager.remove(gated.id)
    assert manager.get(gated.id) is None
