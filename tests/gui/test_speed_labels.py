"""Predicted speed in plain words on every model list: Discover's starter models and the
recommendation, a model's page, the Library; and the first measurement, in a child process."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.core.catalog import predict_entry, recommend
from app.core.fit import fit_for_size
from app.core.settings import load_settings
from app.core.speed import profile_cache as cache
from app.core.speed.predict import Prediction
from app.ui import speed_label
from app.ui.pages.discover_lists import SPEED_COLUMN
from app.ui.pages.model_page import COL_SPEED
from tests.fakehub import FakeHub
from tests.gui import conftest_models
from tests.gui.conftest_models import FAKE_HARDWARE

fake_hardware = conftest_models.fake_hardware
fake_hub = conftest_models.fake_hub
memory_keyring = conftest_models.memory_keyring
models_window = conftest_models.models_window

TIMEOUT = 30_000
SPEED_WORDS = re.compile(r"^about \d+ words? a second · first word after (under a second|\d+ s|\d+ min)$")


@pytest.fixture(autouse=True)
def fresh_profile() -> Any:
    speed_label.forget_profile()
    cache.forget()
    yield
    speed_label.forget_profile()
    cache.forget()


def prediction(tps: float, first: float) -> Prediction:
    return Prediction(tps, 200.0, first, 2000, "cpu", True)


def test_speed_in_plain_words() -> None:
    assert speed_label.speed_text(prediction(16.0, 4.2)) == "about 12 words a second · first word after 4 s"
    assert (
        speed_label.speed_text(prediction(1.0, 0.4))
        == "less than a word a second · first word after under a second"
    )
    assert (
        speed_label.speed_text(prediction(300.0, 130)) == "about 220 words a second · first word after 2 min"
    )
    tip = speed_label.speed_tooltip(prediction(16.0, 4.2))
    assert "16.0 tokens a second" in tip and "tokens × 0.75" in tip and "2,000 tokens" in tip
    assert "slow here" not in tip
    assert "slow here" in speed_label.speed_tooltip(prediction(5.0, 4.0))  # below 8 tokens/s
    assert "slow here" in speed_label.speed_tooltip(prediction(30.0, 12.0))  # first word after 10 s


def _catalog_speeds(home: Any) -> list[str]:
    return [home.catalog.topLevelItem(i).text(SPEED_COLUMN) for i in range(home.catalog.topLevelItemCount())]


def test_discover_shows_each_starter_models_speed_and_recommends_a_fast_one(
    qtbot: Any, models_window: Any
) -> None:
    window = models_window()
    window.show_page("discover")
    home = window.models_area.discover.home
    qtbot.waitUntil(lambda: home.recommended is not None, timeout=TIMEOUT)
    profile = cache.cached_profile()  # the run's pinned profile (tests/conftest.py)
    assert profile is not None and profile.machine_key == "tests"
    for entry, item_text in zip(home.catalog.entries, _catalog_speeds(home), strict=True):
        fit = fit_for_size(entry.size_bytes, FAKE_HARDWARE)
        if not fit.fits:
            assert item_text == "—"
            continue
        assert SPEED_WORDS.match(item_text), item_text
        assert item_text == speed_label.speed_text(predict_entry(entry, profile, fit))
    entry, fit = home.recommended
    assert (entry, fit) == recommend(FAKE_HARDWARE, profile=profile)
    assert predict_entry(entry, profile, fit).fast_enough
    assert "words a second · first word after" in home.recommend_label.text()
    index = home.catalog.entries.index(entry)
    assert "tokens × 0.75" in home.catalog.topLevelItem(index).toolTip(SPEED_COLUMN)


def test_model_page_shows_each_files_speed(qtbot: Any, fake_hub: FakeHub, models_window: Any) -> None:
    repo = "acme/Tiny-Chat-GGUF"
    fake_hub.add_repo(repo)
    for name, size in (("tiny-chat-Q4_K_M.gguf", 800_000_000), ("tiny-chat-Q8_0.gguf", 30_000_000_000)):
        fake_hub.add_file(repo, name, b"GGUF" + bytes(8)).size = size
    window = models_window()
    window.show_page("discover")
    window.models_area.discover.open_model(repo)
    page = window.models_area.discover.model_page
    qtbot.waitUntil(lambda: bool(page.file_items), timeout=TIMEOUT)
    small = page.file_items["tiny-chat-Q4_K_M.gguf"]
    qtbot.waitUntil(lambda: SPEED_WORDS.match(small.text(COL_SPEED)) is not None, timeout=TIMEOUT)
    assert "from the file's size only" in small.toolTip(COL_SPEED)
    assert page.file_items["tiny-chat-Q8_0.gguf"].text(COL_SPEED) == "—"  # too large: no speed


def test_library_shows_each_models_speed_from_its_own_facts(
    qtbot: Any, models_window: Any, instruct_model_path: Path
) -> None:
    from app.ui.pages.library import SPEED_COLUMN as LIBRARY_SPEED

    window = models_window()
    target = load_settings().resolved_models_dir() / "acme" / "SmolLM2-GGUF" / instruct_model_path.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(instruct_model_path, target)
    window.show_page("library")
    library = window.models_area.library
    qtbot.waitUntil(lambda: library.tree.topLevelItemCount() == 1, timeout=TIMEOUT)
    item = library.tree.topLevelItem(0)
    qtbot.waitUntil(lambda: SPEED_WORDS.match(item.text(LIBRARY_SPEED)) is not None, timeout=TIMEOUT)
    assert "from this file's own description" in item.toolTip(LIBRARY_SPEED)


def test_first_ask_measures_in_a_child_process_once(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "speed.json"
    monkeypatch.setenv(cache.PROFILE_ENV, str(kept))  # nothing measured yet
    got: list[Any] = []
    speed_label.with_machine_profile(got.append)
    speed_label.with_machine_profile(got.append)  # a second page asking meanwhile: same run
    qtbot.waitUntil(lambda: len(got) == 2, timeout=60_000)
    assert got[0] is got[1] and got[0] is not None
    assert got[0].cpu.bandwidth and got[0].cpu.matmul_gflops > 0
    assert cache.load_profile(path=kept) == got[0]  # kept for next time
    speed_label.with_machine_profile(got.append)  # known now: at once, no second measurement
    assert got[2] is got[0]


def test_measure_again_runs_the_benchmark_and_refreshes_discover(
    qtbot: Any, models_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "speed.json"
    shutil.copyfile(cache.cache_file(), kept)  # start from the run's pinned profile, not measured
    monkeypatch.setenv(cache.PROFILE_ENV, str(kept))
    window = models_window()
    window.show_page("discover")
    home = window.models_area.discover.home
    qtbot.waitUntil(lambda: home.recommended is not None, timeout=TIMEOUT)
    assert cache.load_profile(path=kept).machine_key == "tests"  # type: ignore[union-attr]
    qtbot.mouseClick(home.measure_button, Qt.MouseButton.LeftButton)
    assert not home.measure_button.isEnabled() and home.measure_button.text() == "Measuring…"
    qtbot.waitUntil(home.measure_button.isEnabled, timeout=60_000)
    measured = cache.load_profile(path=kept)
    assert measured is not None and measured.machine_key != "tests"  # really measured, and kept
    expected = [speed_label.speed_text(s) or "—" for s in _speeds_for(home.catalog.entries, measured)]
    qtbot.waitUntil(lambda: _catalog_speeds(home) == expected, timeout=TIMEOUT)


def _speeds_for(entries: list[Any], profile: Any) -> list[Any]:
    out = []
    for entry in entries:
        fit = fit_for_size(entry.size_bytes, FAKE_HARDWARE)
        out.append(predict_entry(entry, profile, fit) if fit.fits else None)
    return out
