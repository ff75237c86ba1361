"""The Documents page driven like a user would, with real files, the real engine host and the
bundled embedding model: collections, adding folders (dialog and drop), background indexing
with progress, per-file statuses, cancel and resume after a restart, re-index on change; the
collection picker, document retrieval for a chat turn, and the citation links."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from app.core import paths
from app.core.documents.chat_context import prepare_document_messages
from app.core.documents.index import DocumentIndex
from app.ui.main_window import MainWindow
from app.ui.pages.citations import CitationsView, source_url
from app.ui.pages.collection_picker import CollectionPicker
from app.ui.pages.documents import DocumentsPage, documents_page
from tests.fixtures.documents.builders import (
    ENCRYPTED_PDF,
    write_corrupt_pdf,
    write_docx,
    write_pdf,
)

INDEX_TIMEOUT_MS = 60_000
SCREENS = Path(__file__).resolve().parents[1] / "output" / "screens"


def make_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_pdf(
        folder / "handbook.pdf",
        [
            [f"Section {i}: the office is open from nine to five on weekdays." for i in range(8)],
            ["Employees get 27 vacation days per year, plus public holidays."],
        ],
    )
    write_docx(folder / "travel.docx", [("Expenses", ["Use form EX-12 for travel costs."])])
    (folder / "parking.md").write_text("# Parking\n\nThe garage opens at 6am on weekdays.\n")
    sub = folder / "faq"
    sub.mkdir(exist_ok=True)
    (sub / "badges.txt").write_text("Lost badges are replaced by the front desk.\n")
    (sub / "photo.png").write_bytes(b"\x89PNG\r\n")  # a picture cut after its signature
    (sub / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    shutil.copy(ENCRYPTED_PDF, folder / "secret.pdf")
    write_corrupt_pdf(folder / "broken.pdf")
    return folder


def open_page(window: MainWindow) -> DocumentsPage:
    window.show_page("documents")
    page = documents_page(window)
    assert page is not None and window.current_page() == "documents"
    return page


def status(page: DocumentsPage, name: str) -> tuple[str, str]:
    row = page.details.files_tree.row(name)
    return (row.text(1), row.text(2)) if row is not None else ("", "")


def drop(widget: Any, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    action = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(50, 50), action, mime, buttons, mods)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(QPointF(50, 50), action, mime, buttons, mods))


def test_collection_folder_statuses_search_citations_and_screenshot(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = make_docs(tmp_path / "Company docs")
    window = make_window()
    page = open_page(window)
    assert "No collection yet" in page.empty_label.text()
    assert "built-in model" in page.embedding_bar.label.toolTip()

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Company", True))
    qtbot.mouseClick(page.collections_pane.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.current_name == "Company")
    assert "Empty" in page.details.summary_label.text()

    progress: list[Any] = []
    page.indexing.progress.connect(lambda _name, p: progress.append(p))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(docs))
    with qtbot.waitSignal(page.indexing.finished, timeout=INDEX_TIMEOUT_MS) as done:
        qtbot.mouseClick(page.details.add_folder_button, Qt.MouseButton.LeftButton)
    report = done.args[1]
    assert report.added == 4 and report.vectors_computed == report.chunks_added > 0
    files_progress = [p for p in progress if p.phase == "indexing" and p.files_total]
    assert files_progress and files_progress[-1].files_done == files_progress[-1].files_total

    qtbot.waitUntil(lambda: status(page, "handbook.pdf")[0] == "Indexed")
    assert status(page, "handbook.pdf")[1] == "2 pages, 1 passage"
    assert status(page, "secret.pdf") == ("Could not read", "The PDF is password-protected.")
    assert status(page, "broken.pdf")[0] == "Could not read"
    assert "damaged" in status(page, "broken.pdf")[1]
    assert status(page, "faq/photo.png") == ("Could not read", "The picture looks damaged.")
    assert status(page, "faq/clip.mp4") == ("Skipped", "Unsupported format (.mp4)")
    assert status(page, "travel.docx")[0] == "Indexed"
    qtbot.waitUntil(lambda: "4 documents indexed" in page.details.summary_label.text())
    assert "could not be read" in page.details.summary_label.text()
    assert not page.details.progress_panel.isVisible()

    SCREENS.mkdir(parents=True, exist_ok=True)
    window.setStyleSheet((paths.resources_dir() / "style.qss").read_text(encoding="utf-8"))
    window.resize(1100, 720)
    qtbot.wait(50)
    assert window.grab().save(str(SCREENS / "documents.png"))

    # A chat turn over the collection, with the engine's embedding model.
    doc = prepare_document_messages(
        window.service.local, "How many vacation days do employees get?", [], ["Company"],
        n_ctx=2048, answer_tokens=256,
    )
    assert doc.note is None
    first = doc.sources[0]
    assert "27 vacation days" in first.passage and first.label.startswith("handbook.pdf p")
    assert f"[1] {first.label}" in doc.messages[0]["content"]

    # The sources under the answer: a click opens the file, "Show passage" shows the text.
    opened: list[QUrl] = []
    def record(url: QUrl) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", record)
    view = CitationsView([s.to_dict() for s in doc.sources], "27 days [1].")
    qtbot.addWidget(view)
    assert [label.text() for label in view.links] == [
        f'<a href="1">[1] {first.label}</a>'
    ]  # only the cited source
    view.links[0].linkActivated.emit("1")
    assert opened == [QUrl.fromLocalFile(str(docs / "handbook.pdf"))]
    qtbot.mouseClick(view.passage_buttons[0], Qt.MouseButton.LeftButton)
    assert view.dialog is not None and "27 vacation days" in view.dialog.text.toPlainText()
    assert source_url(first.file, 2, "win32").fragment() == "page=2"


@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_drop_cancel_resume_after_restart_and_reindex_on_change(
    qtbot: Any, make_window: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "Notes"
    folder.mkdir()
    for i in range(240):  # short: embedding on a busy 2-core CI machine is slow
        (folder / f"note{i:03}.txt").write_text(f"Note {i} is about topic{i}.\n")
    window = make_window()
    page = open_page(window)
    qtbot.waitUntil(lambda: page.right.currentIndex() == 0)  # nothing yet

    stop_at: list[int] = []

    def maybe_cancel(_name: str, p: Any) -> None:
        if p.phase == "indexing" and p.files_done >= 5 and not stop_at:
            stop_at.append(p.files_done)
            qtbot.mouseClick(page.details.cancel_button, Qt.MouseButton.LeftButton)

    page.indexing.progress.connect(maybe_cancel)
    with qtbot.waitSignal(page.indexing.stopped, timeout=INDEX_TIMEOUT_MS):
        drop(page, [folder])  # no collection yet: one named after the folder
        qtbot.waitUntil(lambda: page.details.progress_panel.isVisible(), timeout=INDEX_TIMEOUT_MS)
        assert "Reading files" in page.details.progress_label.text()
    qtbot.waitUntil(lambda: page.details.update_button.text() == "Resume indexing")
    assert "stopped" in page.details.summary_label.text() and "Resume" in page.note_label.text()
    with DocumentIndex() as idx:
        stopped = idx.collection("Notes")
        assert stopped.state == "indexing" and 0 < stopped.n_files < 240
    window.close()

    again = make_window()  # a restart picks up where it stopped, by itself
    restarted = documents_page(again)
    assert restarted is not None
    page = restarted
    with qtbot.waitSignal(page.indexing.finished, timeout=INDEX_TIMEOUT_MS) as done:
        pass
    assert done.args[1].added == 240 - stopped.n_files
    with DocumentIndex() as idx:
        c = idx.collection("Notes")
        assert c.state == "ready" and c.n_files == 240 and idx.count_missing_vectors(c.id) == 0

    # A file changes while the app runs: the watcher notices, only that file is read again.
    open_page(again)
    qtbot.waitUntil(lambda: page.current_name == "Notes")
    qtbot.waitUntil(lambda: not page.indexing.is_busy("Notes") and bool(page.indexing.watcher.directories()))
    page.indexing.debounce.setInterval(200)
    with qtbot.waitSignal(page.indexing.finished, timeout=INDEX_TIMEOUT_MS) as done:
        (folder / "note007.txt").write_text("Note seven now talks about the zebracorn budget.\n")
    assert done.args[1].changed == 1 and done.args[1].added == 0
    doc = prepare_document_messages(None, "zebracorn", [], ["Notes"], 2048, 256)
    assert doc.sources[0].label == "note007.txt" and "keyword search" in (doc.note or "")


def test_picker_stores_the_conversations_collections(qtbot: Any, make_window: Any) -> None:
    window = make_window()
    page = open_page(window)
    page.create_collection("Research")
    page.create_collection("HR")
    picker = CollectionPicker(window.store)
    qtbot.addWidget(picker)
    page.collectionsChanged.connect(picker.set_available)
    qtbot.waitUntil(lambda: set(picker.actions_by_name()) == {"HR", "Research"})
    assert picker.text() == "Documents: off"

    conversation = window.store.create_conversation(title="Leave")
    picker.set_conversation(conversation.id)
    with qtbot.waitSignal(picker.collectionsChanged) as changed:
        picker.actions_by_name()["HR"].trigger()
    assert changed.args == [["HR"]] and picker.text() == "Documents: HR"
    stored = window.store.get_conversation(conversation.id)
    assert stored is not None and stored.settings["collections"] == ["HR"]

    # A new chat keeps the choice; it is stored once its conversation exists.
    picker.set_conversation(None)
    picker.actions_by_name()["Research"].trigger()
    assert picker.text() == "Documents: 2 collections"
    fresh = window.store.create_conversation(title="New")
    picker.set_conversation(fresh.id, just_created=True)
    stored = window.store.get_conversation(fresh.id)
    assert stored is not None and stored.settings["collections"] == ["HR", "Research"]
    picker.set_conversation(conversation.id)  # back to the first one: its own choice
    assert picker.selected() == ["HR"]

    other = CollectionPicker(window.store)  # a restart reads it back; names read on a worker
    qtbot.addWidget(other)
    other.refresh()
    qtbot.waitUntil(lambda: bool(other.actions_by_name()))
    other.set_conversation(fresh.id)
    assert other.selected() == ["HR", "Research"]
    assert other.actions_by_name()["Research"].isChecked()


def test_rename_delete_and_no_embedding_model(
    qtbot: Any, make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "a.md").write_text("# Canteen\n\nLunch is served from noon.\n")
    window = make_window()
    page = open_page(window)

    page.set_embedding_model(str(tmp_path / "missing.gguf"))
    assert "exact words only" in page.embedding_bar.label.text()
    assert "keyword search (BM25)" in page.embedding_bar.label.toolTip()
    assert page.embedding_bar.builtin_button.isVisibleTo(page)
    with qtbot.waitSignal(page.indexing.finished, timeout=INDEX_TIMEOUT_MS) as done:
        page.create_collection("Misc", [folder])
    assert done.args[1].vectors_computed == 0 and "keyword search" in (done.args[1].note or "")
    qtbot.waitUntil(lambda: "No embedding model" in page.note_label.text())
    page.set_embedding_model("")
    assert "built-in model" in page.embedding_bar.label.toolTip()

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Canteen", True))
    # The new model re-indexes Misc: wait until it is neither running nor queued (a queued
    # run has no `current` yet), or Rename rightly asks to wait.
    qtbot.waitUntil(lambda: not page.indexing.is_busy("Misc"), timeout=INDEX_TIMEOUT_MS)
    page.details.rename_button.click()
    qtbot.waitUntil(lambda: page.current_name == "Canteen")
    assert page.collections_pane.list.item(0).data(Qt.ItemDataRole.UserRole) == "Canteen"

    answers = iter([QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: next(answers))
    page.details.delete_button.click()  # cancelled: still there
    qtbot.wait(200)
    assert page.current_name == "Canteen"
    page.details.delete_button.click()
    qtbot.waitUntil(lambda: page.current_name is None and page.collections_pane.list.count() == 0)
    assert page.right.currentIndex() == 0
    assert folder.joinpath("a.md").exists()  # the user's files are never touched
