"""The Documents page: collections of the user's files and folders that a conversation can
answer from. Create, rename, delete collections; add files and folders (buttons or drag and
drop); see each file's status; indexing runs in the background with progress and Cancel.

Every database read or write runs on the IO pool (ui/tasks.py); the GUI thread only draws.
Heavy libraries (numpy, pypdfium2, docx) are imported inside the worker functions, so building
this page costs the window's start-up nothing.

This module lays the page out, reads the collections and opens one. The parts, one job each:
documents_collections_pane (the list), documents_details (one collection, progress, files),
documents_embedding_bar, documents_actions (what the buttons do), documents_indexing (the
runs) and documents_indexing_feedback (what the page shows while they run).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from app.ui.pages.documents_actions import CollectionActionsMixin, with_index
from app.ui.pages.documents_collections_pane import CollectionsPane
from app.ui.pages.documents_details import CollectionDetails
from app.ui.pages.documents_embedding_bar import EmbeddingModelBar
from app.ui.pages.documents_files import sentence
from app.ui.pages.documents_indexing import IndexingController
from app.ui.pages.documents_indexing_feedback import IndexingFeedbackMixin
from app.ui.tasks import run_task

if TYPE_CHECKING:
    from app.core.documents.index import Collection, DocumentIndex

log = logging.getLogger("enclave.ui.documents")

FILES_REFRESH_MS = 1500  # while indexing, the open collection's files are re-read this often
INTRO = (
    "Put your files in a collection, then pick it in a conversation: the answers quote your "
    "documents and show where each fact comes from. Everything stays on this computer."
)


@dataclass(frozen=True, slots=True)
class _FilesSnapshot:
    """One collection and its files as read on a worker, for the files tree."""

    collection: Collection
    files: dict[str, Any]  # path -> FileRecord
    missing: set[str]  # roots not found on disk


class DocumentsPage(CollectionActionsMixin, IndexingFeedbackMixin, QWidget):
    collectionsChanged = Signal(list)  # names, after every reload (for the collection picker)

    def __init__(self, window: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentsPage")
        self.setAcceptDrops(True)
        self.main_window = window
        self.collections: dict[str, Collection] = {}
        self.current_name: str | None = None
        self._files_seq = 0
        self.indexing = IndexingController(window, self)
        self._build()
        self._connect()
        window.installEventFilter(self)  # to stop indexing before the window shuts the engine
        self.files_timer = QTimer(self)
        self.files_timer.setInterval(FILES_REFRESH_MS)
        self.files_timer.timeout.connect(lambda: self._load_details(self.current_name))
        self.update_embedding_label()
        QTimer.singleShot(0, self.reload)
        QTimer.singleShot(0, self.indexing.resume_pending)

    # ---- construction -------------------------------------------------------------------
    def _build(self) -> None:
        title = QLabel("Documents")
        title.setObjectName("pageTitle")
        intro = QLabel(INTRO)
        intro.setObjectName("pageIntro")
        intro.setWordWrap(True)

        # Left: the collections.
        self.collections_pane = CollectionsPane()

        self.note_label = QLabel()
        self.note_label.setObjectName("documentsNote")
        self.note_label.setWordWrap(True)
        self.note_label.hide()

        # Right: nothing yet, or the chosen collection.
        self.right = QStackedWidget()
        self.empty_label = QLabel(
            "No collection yet.\n\nClick “New collection…”, or drop a folder here."
        )
        self.empty_label.setObjectName("documentsEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.right.addWidget(self.empty_label)
        self.details = CollectionDetails()
        self.right.addWidget(self.details)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.collections_pane)
        splitter.addWidget(self.right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([220, 680])

        # Bottom: which embedding model searches by meaning.
        self.embedding_bar = EmbeddingModelBar()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 12)
        layout.setSpacing(8)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.note_label)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.embedding_bar)

    def _connect(self) -> None:
        self.collections_pane.currentChanged.connect(lambda name: self._select(name, opened=True))
        self.collections_pane.new_button.clicked.connect(self.ask_new_collection)
        d = self.details
        d.rename_button.clicked.connect(self.ask_rename)
        d.delete_button.clicked.connect(self.ask_delete)
        d.add_files_button.clicked.connect(self.ask_add_files)
        d.add_folder_button.clicked.connect(self.ask_add_folder)
        d.remove_button.clicked.connect(self.remove_selected_roots)
        d.update_button.clicked.connect(self.update_now)
        d.cancel_button.clicked.connect(lambda: self.indexing.cancel(self.indexing.current))
        self.embedding_bar.modelChosen.connect(self.set_embedding_model)
        ix = self.indexing
        ix.started.connect(self._on_started)
        ix.progress.connect(self._on_progress)
        ix.finished.connect(self._on_finished)
        ix.stopped.connect(self._on_stopped)
        ix.failed.connect(self._on_failed)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.main_window and event.type() == QEvent.Type.Close:
            self.indexing.shutdown()
        return False

    # ---- loading ------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        """Re-read the collections (on a worker), keep or change the selection."""
        run_task(
            with_index(lambda idx: idx.collections()),
            name="documents-list",
            on_result=lambda found: self._on_collections(found, select),
            on_error=self._show_error,
        )

    def _on_collections(self, found: list[Collection], select: str | None) -> None:
        self.collections = {c.name: c for c in found}
        self.indexing.set_collections(found)
        wanted = select or self.current_name
        if wanted not in self.collections:
            wanted = found[0].name if found else None
        self.collections_pane.show_collections(found, wanted, self.indexing.is_busy)
        self.collectionsChanged.emit(list(self.collections))
        if wanted != self.current_name:
            self._select(wanted, opened=True)
        else:
            self._show_summary()
            self._load_details(wanted)

    def _select(self, name: str | None, opened: bool = False) -> None:
        changed = name != self.current_name
        self.current_name = name
        self.right.setCurrentIndex(0 if name is None else 1)
        if name is None:
            return
        if changed:
            self.details.files_tree.clear()
            self.note_label.hide()
            self._show_progress(None)
        self.details.name_label.setText(name)
        self._show_summary()
        self._load_details(name)
        if opened and changed:
            self.indexing.request(name, user=False)  # cheap: only what changed is re-read

    def _load_details(self, name: str | None) -> None:
        if name is None:
            return
        self._files_seq += 1
        seq = self._files_seq

        def read(idx: DocumentIndex) -> _FilesSnapshot | None:
            c = idx.find_collection(name)
            if c is None:
                return None
            missing = {r for r in c.roots if not os.path.exists(r)}
            return _FilesSnapshot(c, idx.files(c.id), missing)

        def show(snapshot: _FilesSnapshot | None) -> None:
            if seq != self._files_seq or snapshot is None or name != self.current_name:
                return
            self.collections[name] = snapshot.collection
            self._show_summary()
            self.details.files_tree.show_files(snapshot.collection.roots, snapshot.files, snapshot.missing)

        run_task(with_index(read), name="documents-files", on_result=show)

    def _show_summary(self) -> None:
        c = self.collections.get(self.current_name or "")
        if c is not None:
            self.details.show_summary(c, self.indexing.is_busy(c.name))

    # ---- notes above the collections ----------------------------------------------------
    def show_note(self, text: str, level: str = "info") -> None:
        self.note_label.setText(text)
        self.note_label.setProperty("level", level)
        self.note_label.style().unpolish(self.note_label)
        self.note_label.style().polish(self.note_label)
        self.note_label.show()

    def _show_error(self, exc: Exception) -> None:
        self.show_note(sentence(str(exc)), "error")

    # ---- drag and drop ------------------------------------------------------------------
    @staticmethod
    def _dropped_paths(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        # Model files dropped here are for the window (it opens them), not documents.
        return [p for p in paths if p.suffix.lower() != ".gguf"]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt name)
        if self._dropped_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt name)
        paths = self._dropped_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(paths)

    # ---- embedding model ----------------------------------------------------------------
    def update_embedding_label(self) -> None:
        self.embedding_bar.show_setting(getattr(self.main_window.settings, "embedding_model", "") or "")

    def set_embedding_model(self, path: str) -> None:
        """Save the choice ("" = built-in) and update every collection for it."""
        from app.core.settings import save_settings

        settings = self.main_window.settings
        if settings.embedding_model == path:
            return
        settings.embedding_model = path
        save_settings(settings)
        self.update_embedding_label()
        for name in self.collections:
            self.indexing.request(name)
        if self.collections:
            self.show_note("Your collections are being updated for the new embedding model.")


def documents_page(window: Any) -> DocumentsPage | None:
    """The window's Documents page (for wiring the chat to it)."""
    found = window.findChild(DocumentsPage)
    return found if isinstance(found, DocumentsPage) else None
