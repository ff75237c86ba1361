"""The Models pages driven like a user would: Discover, a model's page, Downloads, Library,
Settings; against the fake hub through the real huggingface_hub client."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.core import downloads as core_downloads
from app.core.catalog import recommend
from app.core.library import mark_used
from app.core.settings import load_settings
from app.core.speed.profile_cache import cached_profile
from app.ui.pages.discover import RECOMMEND_TEXT
from app.ui.pages.model_page import BEST_TEXT, COL_FILE, COL_FIT, COL_QUANT, COL_SIZE
from tests.fakehub import FakeHub
from tests.gui import conftest_models
from tests.gui.conftest_models import FAKE_HARDWARE, MemoryKeyring
from tests.gui.events import wait_event

# The fixtures this module uses (kept in conftest_models.py, beside the shared conftest.py).
fake_hardware = conftest_models.fake_hardware
fake_hub = conftest_models.fake_hub
memory_keyring = conftest_models.memory_keyring
models_window = conftest_models.models_window

MB = 1_000_000
REPO = "acme/Tiny-Chat-GGUF"
CARD = "---\nlicense: apache-2.0\ntags: [gguf]\n---\n# Tiny Chat\n\nA *small* model for tests.\n"
TIMEOUT = 20_000


def click(qtbot: Any, widget: Any) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def open_discover(qtbot: Any, window: Any) -> Any:
    window.show_page("discover")
    home = window.models_area.discover.home
    qtbot.waitUntil(lambda: home.catalog.topLevelItemCount() > 0, timeout=TIMEOUT)
    return home


def add_listing_only(hub: FakeHub, repo: str, name: str, size: int) -> None:
    """A file that only the listing knows (its size is faked; never downloaded)."""
    item = hub.add_file(repo, name, b"GGUF" + bytes(8))
    item.size = size


def search(qtbot: Any, home: Any, text: str) -> None:
    home.search_edit.setText(text)
    click(qtbot, home.search_button)
    qtbot.waitUntil(lambda: not home.loading and home.pager is not None, timeout=TIMEOUT)


def open_model_page(qtbot: Any, window: Any, repo_id: str) -> Any:
    discover = window.models_area.discover
    discover.open_model(repo_id)
    page = discover.model_page
    qtbot.waitUntil(lambda: page.details is not None or page.notice.isVisible(), timeout=TIMEOUT)
    return page


def wait_job(qtbot: Any, window: Any, state: str, timeout: int = TIMEOUT) -> Any:
    controller = window.models_area.downloads

    def reached() -> bool:
        return any(job.state == state for job in controller.jobs())

    qtbot.waitUntil(reached, timeout=timeout)
    return next(job for job in controller.jobs() if job.state == state)


# -- Discover ---------------------------------------------------------------------------------
def test_search_shows_results_and_scrolling_loads_more(
    qtbot: Any, fake_hub: FakeHub, models_window: Any
) -> None:
    for i in range(45):
        fake_hub.add_repo(
            f"maker{i % 3}/Llama-{i:02d}-GGUF",
            downloads=1000 * i,
            likes=i,
            gated=(i == 44),
            license="llama3.2",
        )
    fake_hub.add_repo("other/Not-A-Match-GGUF")
    window = models_window()
    home = open_discover(qtbot, window)
    assert home.recommend_button.text() == RECOMMEND_TEXT
    assert not home.offline_banner.isVisible()

    search(qtbot, home, "llama")
    results = home.results
    assert results.topLevelItemCount() == 30
    first = results.topLevelItem(0)
    assert first.text(0) == "Llama 44"  # most downloaded first (every model here is a GGUF)
    assert first.text(1) == "maker2" and first.text(2) == "44K" and first.text(3) == "44"
    assert first.text(4) and first.text(5) == "llama3.2"
    assert first.text(6) == "Accept license first"
    assert "scroll down for more" in home.status.text()

    bar = results.verticalScrollBar()
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: results.topLevelItemCount() == 45, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not home.loading)
    assert "that is all" in home.status.text()

    home.sort_combo.setCurrentIndex(1)  # most liked: a new search
    qtbot.waitUntil(lambda: results.topLevelItemCount() == 30, timeout=TIMEOUT)
    assert any("sort=likes" in path for _m, path, _h in fake_hub.requests)

    search(qtbot, home, "zzzz-nothing")
    assert results.topLevelItemCount() == 0
    assert "No models match" in home.status.text()


def test_hub_trouble_is_said_in_plain_words(qtbot: Any, fake_hub: FakeHub, models_window: Any) -> None:
    fake_hub.faults.status["/api/models"] = 400
    window = models_window()
    home = open_discover(qtbot, window)
    search(qtbot, home, "llama")
    qtbot.waitUntil(home.notice.isVisible, timeout=TIMEOUT)
    assert "Could not reach Hugging Face" in home.notice.text
    assert "Try again" in home.notice.action_titles()


def test_no_network_is_said_at_once_with_the_way_to_offline_mode(
    qtbot: Any, memory_keyring: Any, models_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))  # bound, never listening: the connection is refused
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed.getsockname()[1]}")
        window = models_window()
        home = open_discover(qtbot, window)
        started = time.monotonic()
        search(qtbot, home, "llama")
        qtbot.waitUntil(home.notice.isVisible, timeout=TIMEOUT)
        # huggingface_hub's own retries took ~23 s; generous for a busy machine's event loop
        assert time.monotonic() - started < 5.0
        assert "Enclave cannot reach Hugging Face" in home.notice.text
        assert "offline mode" in home.notice.text
        assert home.notice.action_titles() == ["Try again", "Open Settings"]
        home.notice.trigger("Open Settings")
        assert window.current_page() == "settings"
    finally:
        closed.close()


# -- a model's page ---------------------------------------------------------------------------
def test_model_page_groups_files_with_verdicts_and_best_choice(
    qtbot: Any, fake_hub: FakeHub, models_window: Any
) -> None:
    fake_hub.add_repo(REPO, card=CARD, downloads=1234, likes=56)
    add_listing_only(fake_hub, REPO, "tiny-chat-Q2_K.gguf", 300 * MB)
    add_listing_only(fake_hub, REPO, "tiny-chat-Q4_K_M.gguf", 800 * MB)
    add_listing_only(fake_hub, REPO, "tiny-chat-imatrix-Q4_K_M.gguf", 700 * MB)
    # Too big for the 3 GB GPU even with the compact (q8_0) KV cache: partly on the GPU.
    add_listing_only(fake_hub, REPO, "tiny-chat-Q6_K.gguf", 2400 * MB)
    add_listing_only(fake_hub, REPO, "tiny-chat-Q8_0.gguf", 8000 * MB)
    add_listing_only(fake_hub, REPO, "F16/tiny-chat-F16-00001-of-00002.gguf", 8000 * MB)
    add_listing_only(fake_hub, REPO, "F16/tiny-chat-F16-00002-of-00002.gguf", 8000 * MB)
    window = models_window()
    home = open_discover(qtbot, window)
    search(qtbot, home, "tiny")
    page = window.models_area.discover.model_page
    click_rect = home.results.visualItemRect(home.results.topLevelItem(0))
    qtbot.mouseClick(home.results.viewport(), Qt.MouseButton.LeftButton, pos=click_rect.center())
    assert window.models_area.discover.stack.currentWidget() is page
    qtbot.waitUntil(lambda: bool(page.file_items), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "Tiny Chat" in page.card.toPlainText(), timeout=TIMEOUT)

    groups = [page.files.topLevelItem(i).text(0) for i in range(page.files.topLevelItemCount())]
    assert [g.rsplit("(", 1)[1].rstrip(")") for g in groups] == ["Q2_K", "Q4_K_M", "Q6_K", "Q8_0", "F16"]
    verdicts = {name: item.text(COL_FIT) for name, item in page.file_items.items()}
    assert verdicts["tiny-chat-Q2_K.gguf"] == "Runs fully on your GPU"
    assert verdicts["tiny-chat-Q6_K.gguf"].startswith("Partly on the GPU: ")  # plain words,
    partial_tip = page.file_items["tiny-chat-Q6_K.gguf"].toolTip(COL_FIT)  # the layers one hover away
    assert " of " in partial_tip and "layers" in partial_tip
    assert verdicts["tiny-chat-Q8_0.gguf"] == "Too large for this computer"
    split = page.file_items["F16/tiny-chat-F16-00001-of-00002.gguf"]
    assert "one model in 2 parts" in split.text(COL_FILE) and split.text(COL_SIZE) == "16.0 GB"
    assert len(page.file_items) == 6  # the split set is one row
    q4_group = page.files.topLevelItem(1)  # two Q4_K_M files: a group row above them
    assert q4_group.childCount() == 2 and q4_group.text(COL_FILE) == "2 files"
    assert q4_group.text(COL_QUANT) == "Balanced, the usual choice (Q4_K_M)"
    assert page.files.topLevelItem(0).text(COL_QUANT) == "Smallest, lowest quality (Q2_K)"
    # the best: the largest file that runs fully on the GPU
    assert page.best_filename() == "tiny-chat-Q4_K_M.gguf"
    best = page.file_items["tiny-chat-Q4_K_M.gguf"]
    assert best.text(COL_FIT).startswith(BEST_TEXT) and best.font(COL_FILE).bold()
    assert "highlighted file is the best choice" in page.hint.text() and "Q4_K_M" not in page.hint.text()
    assert set(page.download_buttons) == set(page.file_items)
    # the card: rendered Markdown, no YAML front matter
    assert "license: apache-2.0" not in page.card.toPlainText()
    assert "1.2K downloads" in page.facts.text() and "apache-2.0" in page.facts.text()

    click(qtbot, page.back_button)
    assert window.models_area.discover.stack.currentWidget() is home


def test_gated_model_says_what_to_do_with_a_link(qtbot: Any, fake_hub: FakeHub, models_window: Any) -> None:
    fake_hub.add_repo("meta/Gated-GGUF", gated="manual", card="# Gated\n")
    fake_hub.add_file("meta/Gated-GGUF", "gated-Q4_K_M.gguf", b"GGUF" + os.urandom(5000))
    window = models_window()
    open_discover(qtbot, window)
    page = open_model_page(qtbot, window, "meta/Gated-GGUF")
    url = f"{fake_hub.url}/meta/Gated-GGUF"
    qtbot.waitUntil(page.notice.isVisible, timeout=TIMEOUT)
    text = page.notice.text
    assert "needs a Hugging Face account" in text and "accept" in text
    assert f'href="{url}"' in text and page.notice.label.openExternalLinks()
    assert "Open Settings" in page.notice.action_titles()
    page.notice.trigger("Open Settings")
    assert window.current_page() == "settings"

    qtbot.waitUntil(lambda: bool(page.download_buttons), timeout=TIMEOUT)
    click(qtbot, page.download_buttons["gated-Q4_K_M.gguf"])
    job = wait_job(qtbot, window, "failed")
    assert "needs a Hugging Face account" in job.error
    row = window.models_area.discover.downloads_panel.rows[job.id]
    qtbot.waitUntil(lambda: row.state == "failed", timeout=TIMEOUT)
    assert f'href="{url}"' in row.status_label.text()
    assert row.pause_button.text() == "Try again"


# -- downloads --------------------------------------------------------------------------------
def test_download_appears_in_library_and_chat_loads_it(
    qtbot: Any, fake_hub: FakeHub, models_window: Any, chat_model_path: Path
) -> None:
    repo = "google/gemma-3-270m-it-GGUF"
    fake_hub.add_repo(repo, card="# Gemma 3 270M\n")
    fake_hub.add_file(repo, "gemma-3-270m-it-Q4_K_M.gguf", disk_path=chat_model_path)
    window = models_window()
    library = window.models_area.library
    window.show_page("library")
    qtbot.waitUntil(lambda: library.stack.currentIndex() == 1, timeout=TIMEOUT)
    assert library.empty_label.text().startswith("No models yet — get one in Discover")

    open_discover(qtbot, window)
    page = open_model_page(qtbot, window, repo)
    qtbot.waitUntil(lambda: bool(page.download_buttons), timeout=TIMEOUT)
    controller = window.models_area.downloads
    seen: list[Any] = []
    controller.progressed.connect(seen.append)
    with qtbot.waitSignal(controller.jobFinished, timeout=60_000):
        click(qtbot, page.download_buttons["gemma-3-270m-it-Q4_K_M.gguf"])
        assert page.download_buttons["gemma-3-270m-it-Q4_K_M.gguf"].text() == "Queued ✓"
    assert seen and seen[-1].state == "done"
    states = {p.state for p in seen}
    assert {"checking", "verifying", "done"} <= states
    row = window.models_area.discover.downloads_panel.rows[controller.jobs()[0].id]
    assert "in your Library" in row.status_label.text()
    assert row.progress.value() == 1000

    window.show_page("library")
    qtbot.waitUntil(lambda: library.tree.topLevelItemCount() == 1, timeout=TIMEOUT)
    item = library.tree.topLevelItem(0)
    assert item.text(0) == "gemma 3 270m it  ·  Quality: good"  # the file and its publisher: tooltip
    assert "gemma-3-270m-it-Q4_K_M.gguf" in item.toolTip(0) and repo in item.toolTip(0)
    assert item.text(1) == "Enclave" and item.text(3) == "never"
    qtbot.waitUntil(lambda: library.tree.topLevelItem(0).text(4) != "Checking…", timeout=TIMEOUT)
    assert library.delete_button.isEnabled()

    with wait_event(qtbot, window.service.loaded, timeout=60_000):
        click(qtbot, library.chat_button)
        assert window.current_page() == "chat"
    assert window.model_path == library.models[0].path
    qtbot.waitUntil(lambda: window.composer.send_button.isEnabled(), timeout=TIMEOUT)


def test_pause_resume_and_the_queue_survives_a_restart(
    qtbot: Any, fake_hub: FakeHub, models_window: Any, make_window: Any
) -> None:
    data = b"GGUF" + os.urandom(3 * MB)
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, "tiny-chat-Q4_K_M.gguf", data)
    fake_hub.faults.throttle_bps = 2 * MB
    window = models_window()
    open_discover(qtbot, window)
    page = open_model_page(qtbot, window, REPO)
    qtbot.waitUntil(lambda: bool(page.download_buttons), timeout=TIMEOUT)
    controller = window.models_area.downloads
    updates: list[float] = []
    controller.progressed.connect(lambda p: updates.append(p.downloaded))
    click(qtbot, page.download_buttons["tiny-chat-Q4_K_M.gguf"])
    panel = window.models_area.discover.downloads_panel
    assert panel.isVisible()
    qtbot.waitUntil(lambda: any(0 < u < len(data) for u in updates), timeout=TIMEOUT)
    job_id = controller.jobs()[0].id
    row = panel.rows[job_id]
    qtbot.waitUntil(lambda: "MB/s" in row.status_label.text(), timeout=TIMEOUT)
    assert " of 3.0 MB" in row.status_label.text()
    assert row.pause_button.text() == "Pause"

    click(qtbot, row.pause_button)
    wait_job(qtbot, window, "paused")
    qtbot.waitUntil(lambda: not controller.running, timeout=TIMEOUT)
    assert row.pause_button.text() == "Resume" and "Paused" in row.status_label.text()
    partial = list((load_settings().resolved_models_dir() / ".downloads").rglob("*.part"))
    assert partial and 0 < partial[0].stat().st_size < len(data)
    # at most ~10 progress updates a second reach the GUI
    assert len(updates) <= 12 * 2 + 5
    window.close()

    again = models_window()  # a restart: the paused job is still listed
    again.show_page("discover")
    panel = again.models_area.discover.downloads_panel
    assert list(panel.rows) == [job_id]
    assert panel.rows[job_id].state == "paused"
    fake_hub.faults.throttle_bps = None
    with qtbot.waitSignal(again.models_area.downloads.jobFinished, timeout=TIMEOUT):
        click(qtbot, panel.rows[job_id].pause_button)  # Resume
    target = load_settings().resolved_models_dir() / REPO / "tiny-chat-Q4_K_M.gguf"
    assert target.read_bytes() == data
    ranges = [h.get("range", "") for m, p, h in fake_hub.requests if p.startswith("/cdn/")]
    assert any(r.startswith("bytes=") and r != "bytes=0-" for r in ranges)  # it resumed


def test_unfinished_download_resumes_on_start(qtbot: Any, fake_hub: FakeHub, models_window: Any) -> None:
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, "tiny-chat-Q4_K_M.gguf", b"GGUF" + os.urandom(200_000))
    save_dir = load_settings().resolved_models_dir()
    manager = core_downloads.DownloadManager(models_dir=save_dir)
    manager.add(REPO, "tiny-chat-Q4_K_M.gguf")  # queued by an earlier run that was closed
    window = models_window()
    qtbot.waitUntil(lambda: window.models_area._downloads is not None, timeout=TIMEOUT)
    wait_job(qtbot, window, "done")
    assert (save_dir / REPO / "tiny-chat-Q4_K_M.gguf").is_file()


def test_damaged_file_and_full_disk_are_said_in_plain_words(
    qtbot: Any, fake_hub: FakeHub, models_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo(REPO)
    fake_hub.add_file(REPO, "tiny-chat-Q4_K_M.gguf", b"GGUF" + os.urandom(100_000))
    fake_hub.add_file(REPO, "tiny-chat-Q8_0.gguf", b"GGUF" + os.urandom(100_000))
    fake_hub.faults.corrupt = True
    window = models_window()
    open_discover(qtbot, window)
    page = open_model_page(qtbot, window, REPO)
    qtbot.waitUntil(lambda: bool(page.download_buttons), timeout=TIMEOUT)
    click(qtbot, page.download_buttons["tiny-chat-Q4_K_M.gguf"])
    job = wait_job(qtbot, window, "failed")
    panel = window.models_area.discover.downloads_panel
    qtbot.waitUntil(lambda: panel.rows[job.id].state == "failed", timeout=TIMEOUT)
    assert "is damaged" in panel.rows[job.id].status_label.text()

    monkeypatch.setattr(core_downloads.model, "free_space", lambda _path: 10 * MB)
    monkeypatch.setattr(core_downloads.model, "DISK_MARGIN", 64 * MB)
    click(qtbot, page.download_buttons["tiny-chat-Q8_0.gguf"])
    qtbot.waitUntil(
        lambda: len([j for j in window.models_area.downloads.jobs() if j.state == "failed"]) == 2,
        timeout=TIMEOUT,
    )
    full = next(j for j in window.models_area.downloads.jobs() if "Q8_0" in j.filename)
    qtbot.waitUntil(lambda: panel.rows[full.id].state == "failed", timeout=TIMEOUT)
    assert "Not enough disk space" in panel.rows[full.id].status_label.text()


def test_recommended_model_button_queues_the_pick_for_this_computer(
    qtbot: Any, fake_hub: FakeHub, models_window: Any
) -> None:
    entry, _fit = recommend(FAKE_HARDWARE, profile=cached_profile())  # the run's pinned speed
    fake_hub.add_repo(entry.repo_id)
    fake_hub.add_file(entry.repo_id, entry.filename, b"GGUF" + os.urandom(50_000))
    window = models_window()
    home = open_discover(qtbot, window)
    qtbot.waitUntil(lambda: home.recommended is not None, timeout=TIMEOUT)
    assert entry.name in home.recommend_label.text()
    verdicts = [home.catalog.topLevelItem(i).text(3) for i in range(len(home.catalog.entries))]
    assert "Runs fully on your GPU" in verdicts and "Too large for this computer" in verdicts
    click(qtbot, home.recommend_button)
    job = wait_job(qtbot, window, "done")
    assert (job.repo_id, job.filename) == (entry.repo_id, entry.filename)
    assert entry.name in home.notice.text


def test_catalog_file_missing_downloads_the_same_quantization_and_says_so(
    qtbot: Any, fake_hub: FakeHub, models_window: Any
) -> None:
    entry, _fit = recommend(FAKE_HARDWARE, profile=cached_profile())  # the run's pinned speed
    renamed = entry.filename.lower().replace(".gguf", "-v2.gguf")  # not the catalog's name
    fake_hub.add_repo(entry.repo_id)
    fake_hub.add_file(entry.repo_id, renamed, b"GGUF" + os.urandom(50_000))
    fake_hub.add_file(entry.repo_id, "model-Q8_0.gguf", b"GGUF" + bytes(9))  # another quantization
    window = models_window()
    home = open_discover(qtbot, window)
    qtbot.waitUntil(lambda: home.recommended is not None, timeout=TIMEOUT)
    click(qtbot, home.recommend_button)
    job = wait_job(qtbot, window, "done")
    assert (job.filename, job.requested) == (renamed, entry.filename)
    assert (load_settings().resolved_models_dir() / entry.repo_id / renamed).is_file()
    row = window.models_area.discover.downloads_panel.rows[job.id]
    qtbot.waitUntil(lambda: row.note_label.isVisible(), timeout=TIMEOUT)
    assert entry.filename in row.note_label.text() and renamed in row.note_label.text()
    assert "same Q4_K_M quantization" in row.note_label.text()
    assert renamed in row.name_label.toolTip()  # the file one hover away; its name in words shown


# -- offline ----------------------------------------------------------------------------------
def test_offline_mode_says_so_and_makes_no_request(qtbot: Any, fake_hub: FakeHub, models_window: Any) -> None:
    fake_hub.add_repo(REPO, card=CARD)
    fake_hub.add_file(REPO, "tiny-chat-Q4_K_M.gguf", b"GGUF" + bytes(100))
    window = models_window()
    window.show_page("settings")
    settings_page = window.models_area.settings
    click(qtbot, settings_page.offline_check)
    assert window.settings.offline_mode and load_settings().offline_mode

    home = open_discover(qtbot, window)
    assert home.offline_banner.isVisible() and "Offline mode is on" in home.offline_label.text()
    assert not home.search_edit.isEnabled() and not home.search_button.isEnabled()
    assert not home.recommend_button.isEnabled()
    home.search_edit.setText("tiny")
    home.search()
    page = open_model_page(qtbot, window, REPO)
    assert "Offline mode is on" in page.notice.text
    window.models_area.downloads.add(REPO, "tiny-chat-Q4_K_M.gguf")  # e.g. queued earlier
    qtbot.wait(300)
    job = window.models_area.downloads.jobs()[0]
    assert job.state == "queued"
    row = window.models_area.discover.downloads_panel.rows[job.id]
    assert "offline mode is on" in row.status_label.text()
    assert fake_hub.requests == []

    window.show_page("settings")
    settings_page.offline_check.click()  # back online: the waiting download goes on
    assert not window.settings.offline_mode
    wait_job(qtbot, window, "done")
    assert not home.offline_banner.isVisible() and home.search_button.isEnabled()


# -- library ----------------------------------------------------------------------------------
def test_library_lists_sources_and_deletes_only_our_files(
    qtbot: Any, models_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "theirs-Q4_K_M.gguf").write_bytes(b"GGUF" + bytes(2000))
    models = tmp_path / "models"
    ours = models / "acme" / "mine" / "mine-Q4_K_M.gguf"
    ours.parent.mkdir(parents=True)
    ours.write_bytes(b"GGUF" + bytes(1000))
    mark_used(ours)
    window = models_window(models_dir=str(models), extra_model_dirs=[str(other)])
    library = window.models_area.library
    window.show_page("library")
    qtbot.waitUntil(lambda: library.tree.topLevelItemCount() == 2, timeout=TIMEOUT)
    rows = {library.tree.topLevelItem(i).text(1): i for i in range(2)}
    assert set(rows) == {"Enclave", "Your folder"}
    assert library.tree.topLevelItem(rows["Enclave"]).text(3) == "just now"

    library.tree.setCurrentItem(library.tree.topLevelItem(rows["Your folder"]))
    assert not library.delete_button.isEnabled()
    assert "never deletes it" in library.delete_button.toolTip()
    assert library.chat_button.isEnabled() and library.folder_button.isEnabled()

    library.tree.setCurrentItem(library.tree.topLevelItem(rows["Enclave"]))
    assert library.delete_button.isEnabled()
    asked: list[str] = []

    def answer(_parent: Any, title: str, *_args: Any, **_kw: Any) -> Any:
        asked.append(title)
        return QMessageBox.StandardButton.Cancel if len(asked) == 1 else (QMessageBox.StandardButton.Yes)

    monkeypatch.setattr(QMessageBox, "question", answer)
    click(qtbot, library.delete_button)  # Cancel: nothing happens
    assert ours.exists()
    click(qtbot, library.delete_button)  # Yes
    qtbot.waitUntil(lambda: library.tree.topLevelItemCount() == 1, timeout=TIMEOUT)
    assert asked == ["Delete this model?"] * 2
    assert not ours.exists() and (other / "theirs-Q4_K_M.gguf").exists()
    assert "was deleted" in library.notice.text


# -- settings ---------------------------------------------------------------------------------
def test_settings_token_goes_to_the_keyring_not_a_file(
    qtbot: Any, models_window: Any, memory_keyring: MemoryKeyring, enclave_home: Path
) -> None:
    window = models_window()
    window.show_page("settings")
    page = window.models_area.settings
    qtbot.waitUntil(lambda: page.has_token is False, timeout=TIMEOUT)
    assert page.token_edit.echoMode() == page.token_edit.EchoMode.Password
    assert not page.remove_token_button.isEnabled()
    secret = "hf_TestTokenThatMustNeverReachAFile"
    qtbot.keyClicks(page.token_edit, secret)
    click(qtbot, page.save_token_button)
    qtbot.waitUntil(lambda: page.has_token is True, timeout=TIMEOUT)
    assert memory_keyring.store == {("Enclave", "huggingface-token"): secret}
    assert "saved" in page.token_status.text() and page.token_edit.text() == ""
    assert page.remove_token_button.isEnabled()

    page.context_combo.setCurrentIndex(page.context_combo.findData(4096))
    click(qtbot, page.other_apps_check)
    assert not page.draft_check.isChecked()  # speculative decoding with a draft model: off at first
    click(qtbot, page.draft_check)
    page.set_models_dir(str(enclave_home / "my-models"))
    saved = load_settings()
    assert saved.default_context == 4096 and saved.scan_other_apps and saved.draft_models
    assert saved.models_dir == str(enclave_home / "my-models")
    assert window.settings.default_context == 4096
    for path in enclave_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path

    click(qtbot, page.remove_token_button)
    qtbot.waitUntil(lambda: page.has_token is False, timeout=TIMEOUT)
    assert memory_keyring.store == {}
    assert "removed" in page.token_status.text()
