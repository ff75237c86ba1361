"""Pages change settings only through the window's SettingsStore, and follow it: the Settings
page saves each widget's change with `store.update` and re-announces the store's event as its
`changed(name)`; the Documents page saves the embedding model there and follows a change of it
made anywhere. Real window, real settings file in the test's ENCLAVE_HOME."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app.core.settings import load_settings
from app.ui.pages.documents import documents_page
from tests.gui import conftest_models

fake_hardware = conftest_models.fake_hardware
memory_keyring = conftest_models.memory_keyring
models_window = conftest_models.models_window


def test_settings_page_saves_through_the_store_and_follows_it(
    qtbot: Any, models_window: Any, memory_keyring: Any
) -> None:
    window = models_window()
    store = window.settings_store
    assert window.settings is store.current  # one Settings object, owned by the store
    window.show_page("settings")
    page = window.models_area.settings
    from_store: list[set[str]] = []
    from_page: list[str] = []
    store.changed.connect(from_store.append)
    page.changed.connect(from_page.append)

    qtbot.mouseClick(page.offline_check, Qt.MouseButton.LeftButton)
    assert store.current.offline_mode and load_settings().offline_mode
    assert from_store == [{"offline_mode"}] and from_page == ["offline_mode"]
    assert page.saved_label.text() == "Saved."

    page.context_combo.setCurrentIndex(page.context_combo.findData(4096))
    assert load_settings().default_context == 4096 and from_page[-1] == "default_context"

    # Another part of the app changes settings: the page shows it and tells its listeners.
    store.update(default_context=16384, offline_mode=False)
    assert page.context_combo.currentData() == 16384 and not page.offline_check.isChecked()
    assert from_page[-2:] == ["default_context", "offline_mode"]
    assert len(from_store) == 3  # each update announced once, nothing saved twice

    page.offline_check.setChecked(False)  # already so: no save, no event
    assert len(from_store) == 3


def test_documents_page_saves_the_embedding_model_in_the_store_and_follows_it(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    window = make_window()
    page = documents_page(window)
    assert page is not None and "built-in model" in page.embedding_bar.label.toolTip()
    heard: list[set[str]] = []
    window.settings_store.changed.connect(heard.append)

    missing = str(tmp_path / "missing.gguf")
    page.set_embedding_model(missing)
    assert window.settings.embedding_model == missing == load_settings().embedding_model
    assert heard == [{"embedding_model"}]
    assert "exact words only" in page.embedding_bar.label.text()
    assert "keyword search (BM25)" in page.embedding_bar.label.toolTip()

    page.set_embedding_model(missing)  # the same choice again: nothing to save or redo
    assert heard == [{"embedding_model"}]

    window.settings_store.update(embedding_model="")  # changed elsewhere (e.g. Settings)
    assert "built-in model" in page.embedding_bar.label.toolTip()
    assert not page.embedding_bar.builtin_button.isVisibleTo(page)
    assert load_settings().embedding_model == ""
