"""Starter-catalog downloads when the repo does not have the catalog's exact file name.

The catalog's names could not be checked against the real hub, and repos rename files. The job
looks the name up when it starts: the same quantization under another name, else the planner's
best fit, and a note that says so; never a 404. Against the fake hub, through DownloadManager.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from app.core import hub
from app.core.catalog import load_catalog, pick_file
from app.core.downloads import DownloadManager
from app.core.hardware import GpuInfo, HardwareInfo
from app.core.settings import Settings
from tests.fakehub import FakeHub

GIB = 1024**3
ENTRY = next(e for e in load_catalog() if e.id == "llama-3.2-1b")  # Llama-3.2-1B-Instruct-Q4_K_M.gguf
REPO = ENTRY.repo_id
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


def _hardware(vram_gb: float) -> HardwareInfo:
    gpu = GpuInfo(0, "Test GPU", int(vram_gb * GIB), int(vram_gb * GIB), "555", "cuda")
    return HardwareInfo(16 * GIB, 12 * GIB, 8, 16, "Test CPU", "Linux", (gpu,), False, ())


def _listing(fake: FakeHub, sizes: dict[str, int]) -> hub.ModelDetails:
    """Files the listing knows with these (faked) sizes; their bytes are never fetched."""
    fake.add_repo(REPO)
    for name, size in sizes.items():
        fake.add_file(REPO, name, b"GGUF" + bytes(8)).size = size
    return hub.model_files(REPO)


@pytest.fixture
def manager(tmp_path: Path) -> DownloadManager:
    settings = Settings(models_dir=str(tmp_path / "models"), scan_other_apps=False)
    return DownloadManager(settings=settings, store=tmp_path / "downloads.json", **FAST)


def _resolves(fake: FakeHub) -> list[str]:
    return [path for method, path, _h in fake.requests if "/resolve/" in path]


def test_same_quantization_under_another_name_is_downloaded_and_said(
    fake_hub: FakeHub, manager: DownloadManager, caplog: pytest.LogCaptureFixture
) -> None:
    fake_hub.add_repo(REPO)
    lower = "llama-3.2-1b-instruct-q4_k_m.gguf"  # the catalog says ...-Q4_K_M.gguf
    data = b"GGUF" + os.urandom(100_000)
    fake_hub.add_file(REPO, lower, data)
    fake_hub.add_file(REPO, "llama-3.2-1b-instruct-q8_0.gguf", b"GGUF" + os.urandom(200_000))
    fake_hub.add_file(REPO, "llama-3.2-1b-instruct-q4_k_s.gguf", b"GGUF" + os.urandom(90_000))
    queued = manager.add(REPO, ENTRY.filename, stand_in=True)
    assert manager.add(REPO, ENTRY.filename, stand_in=True).id == queued.id
    with caplog.at_level(logging.WARNING, logger="app.core.downloads"):
        job = manager.run_next()
    assert job is not None and job.state == "done", job
    assert (job.filename, job.requested) == (lower, ENTRY.filename)
    assert ENTRY.filename in job.note and lower in job.note and "Q4_K_M" in job.note
    assert Path(job.path).read_bytes() == data
    assert job.note in caplog.text
    assert not any(ENTRY.filename in path for path in _resolves(fake_hub))  # no 404 asked for
    # Asked again later: the same stand-in is found on disk, not fetched a second time.
    fetched = len([p for m, p, _h in fake_hub.requests if m == "GET" and p.startswith("/cdn/")])
    manager.add(REPO, ENTRY.filename, stand_in=True)
    second = manager.run_next()
    assert second is not None and second.state == "done" and second.path == job.path
    assert len([p for m, p, _h in fake_hub.requests if m == "GET" and p.startswith("/cdn/")]) == fetched


def test_exact_name_is_taken_as_is(fake_hub: FakeHub, manager: DownloadManager) -> None:
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, ENTRY.filename, b"GGUF" + os.urandom(50_000))
    fake_hub.add_file(REPO, "llama-3.2-1b-instruct-q4_k_m.gguf", b"GGUF" + os.urandom(50_000))
    manager.add(REPO, ENTRY.filename, stand_in=True)
    job = manager.run_next()
    assert job is not None and job.state == "done"
    assert (job.filename, job.requested, job.note) == (ENTRY.filename, "", "")


def test_without_stand_in_a_missing_file_still_fails_plainly(
    fake_hub: FakeHub, manager: DownloadManager
) -> None:
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, "llama-3.2-1b-instruct-q4_k_m.gguf", b"GGUF" + os.urandom(50_000))
    manager.add(REPO, ENTRY.filename)  # a name the user picked from a listing: no guessing
    job = manager.run_next()
    assert job is not None and job.state == "failed" and "was not found" in job.error


def test_other_quantizations_only_take_the_planners_best_fit(fake_hub: FakeHub) -> None:
    details = _listing(
        fake_hub,
        {
            "Llama-3.2-1B-Instruct-Q8_0.gguf": 8 * GIB,
            "Llama-3.2-1B-Instruct-Q5_K_M.gguf": 5 * GIB,
            "Llama-3.2-1B-Instruct-Q3_K_M.gguf": 3 * GIB,
            "Llama-3.2-1B-Instruct-IQ2_XS.gguf": 2 * GIB,
        },
    )
    chosen, note = pick_file(details, ENTRY.filename, lambda: _hardware(6))
    assert chosen.filename == "Llama-3.2-1B-Instruct-Q5_K_M.gguf"  # largest fully on a 6 GB GPU
    assert "best fit for this computer" in note and ENTRY.filename in note
    chosen, _note = pick_file(details, ENTRY.filename, lambda: _hardware(4))
    assert chosen.filename == "Llama-3.2-1B-Instruct-Q3_K_M.gguf"
    with pytest.raises(hub.HubError, match="none of its other files fits this computer"):
        tiny = HardwareInfo(GIB, GIB // 2, 2, 2, "Test CPU", "Linux", (), False, ())
        pick_file(details, ENTRY.filename, lambda: tiny)
    chosen, note = pick_file(details, ENTRY.filename, lambda: None)  # no hardware facts
    assert chosen.filename == "Llama-3.2-1B-Instruct-Q5_K_M.gguf"  # nearest in bits to Q4_K_M
    assert "nearest quantization to Q4_K_M" in note


def test_same_quantization_prefers_the_closest_name_and_ignores_mmproj(fake_hub: FakeHub) -> None:
    details = _listing(
        fake_hub,
        {
            "Llama-3.2-1B-Instruct-abliterated-Q4_K_M.gguf": GIB,
            "Llama-3.2-1B-Instruct-Q4_K_M-v2.gguf": GIB,
            "mmproj-Llama-3.2-1B-Instruct-Q4_K_M.gguf": GIB // 10,
        },
    )
    asked: list[bool] = []
    chosen, note = pick_file(details, ENTRY.filename, lambda: asked.append(True) or None)
    assert chosen.filename == "Llama-3.2-1B-Instruct-Q4_K_M-v2.gguf"
    assert "the same Q4_K_M quantization" in note
    assert asked == []  # hardware is only examined when no file of the same quantization exists


def test_repo_without_gguf_files_says_not_found(fake_hub: FakeHub, manager: DownloadManager) -> None:
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, "README.md", b"# nothing here", lfs=False)
    manager.add(REPO, ENTRY.filename, stand_in=True)
    job = manager.run_next()
    assert job is not None and job.state == "failed"
    assert f"The file {ENTRY.filename} in {REPO} was not found" in job.error
