"""The Documents page: collections of the user's files and folders that a conversation can
answer from. Create, rename, delete collections; add files and folders (buttons or drag and
drop); see each file's status; indexing runs in the background with progress and Cancel.

Every database read or write runs on the IO pool (ui/tasks.py); the GUI thread only draws.
Heavy libraries (numpy, pypdfium2, docx) are imported inside the worker functions, so building
this page costs the window's start-up nothing.

This module builds the page from its parts and wires them; none of them knows the others.
One state owner, app/core/documents/collections_state.py (which collections exist, which is
open, which are indexing and how far, the note), is written by
    documents_loader (reads the index on a worker), documents_indexing_feedback (turns the
    indexing runs of documents_indexing into state) and the user's choice in the list,
and observed by the parts that draw it:
    documents_collections_pane (the list), documents_details (one collection, progress,
    files), the note and the empty side here.
documents_actions does what the buttons ask; documents_embedding_bar shows and asks which
embedding model to use, saved through the window's SettingsStore; documents_model_offer offers
the multilingual model (a download, recommended for a collection mostly not in English).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from app.core.documents.collections_state import CollectionsState, Note
from app.core.i18n import translate, translate_noop
from app.core.settings import SettingsStore
from app.ui.observe import observe
from app.ui.pages.documents_actions import CollectionActions
from app.ui.pages.documents_collections_pane import CollectionsPane
from app.ui.pages.documents_details import CollectionDetails
from app.ui.pages.documents_embedding_bar import EmbeddingModelBar
from app.ui.pages.documents_indexing import IndexingController
from app.ui.pages.documents_indexing_feedback import IndexingFeedback
from app.ui.pages.documents_loader import CollectionsLoader
from app.ui.pages.documents_model_offer import MultilingualOffer, RecommendationBar

log = logging.getLogger("enclave.ui.documents")

INTRO = translate_noop(
    "documents",
    "Put your files in a collection, then pick it in a conversation: the answers quote your "
    "documents and show where each fact comes from. Everything stays on this computer.",
)
MODEL_CHANGED_NOTE = translate_noop(
    "documents", "Your collections are being updated for the new embedding model."
)


class DocumentsPage(QWidget):
    collectionsChanged = Signal(list)  # names, after every reload (for the collection picker)

    def __init__(self, window: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentsPage")
        self.setAcceptDrops(True)
        self.main_window = window
        self.settings_store: SettingsStore = window.settings_store
        self.state = CollectionsState()
        self.indexing = IndexingController(window.service, self.settings_store, self)
        self.loader = CollectionsLoader(self.state)
        self.collection_actions = CollectionActions(self.state, self.indexing, self.loader, self)
        self.feedback = IndexingFeedback(self.state, self.indexing, self.loader, self)
        self._build()
        self._connect()
        window.installEventFilter(self)  # to stop indexing before the window shuts the engine
        self._show_embedding_setting()
        QTimer.singleShot(0, self.loader.reload)
        QTimer.singleShot(0, self.indexing.resume_pending)

    # ---- construction -------------------------------------------------------------------
    def _build(self) -> None:
        title = QLabel(translate("documents", "Documents"))
        title.setObjectName("pageTitle")
        intro = QLabel(translate("documents", INTRO))
        intro.setObjectName("pageIntro")
        intro.setWordWrap(True)

        # Left: the collections.
        self.collections_pane = CollectionsPane(self.state)

        self.note_label = QLabel()
        self.note_label.setObjectName("documentsNote")
        self.note_label.setWordWrap(True)
        self.note_label.hide()

        # Right: nothing yet, or the chosen collection.
        self.right = QStackedWidget()
        self.empty_label = QLabel(
            translate("documents", "No collection yet.\n\nClick “New collection…”, or drop a folder here.")
        )
        self.empty_label.setObjectName("documentsEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.right.addWidget(self.empty_label)
        self.details = CollectionDetails(self.state)
        self.right.addWidget(self.details)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.collections_pane)
        splitter.addWidget(self.right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([220, 680])

        # Bottom: which embedding model searches by meaning (and, above it while the open
        # collection is mostly not in English, the multilingual model recommended).
        self.embedding_bar = EmbeddingModelBar()
        self.recommendation = RecommendationBar()
        self.model_offer = MultilingualOffer(
            self.main_window, self.settings_store, self.embedding_bar.multilingual_button,
            self.recommendation,
        )  # fmt: skip

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 12)
        layout.setSpacing(8)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.note_label)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.recommendation)
        layout.addWidget(self.embedding_bar)

    def _connect(self) -> None:
        state, actions, d = self.state, self.collection_actions, self.details
        ix = self.indexing
        observe(state.collections_changed, ix, lambda: ix.set_collections(state.collections()))
        observe(state.collections_changed, self, self._announce_collections)
        observe(state.selected_changed, self, self._on_selected)
        observe(state.note_changed, self, self._show_note)
        observe(self.settings_store.changed, self, self._on_settings_changed)
        self.collections_pane.new_button.clicked.connect(actions.ask_new_collection)
        d.rename_button.clicked.connect(actions.ask_rename)
        d.delete_button.clicked.connect(actions.ask_delete)
        d.add_files_button.clicked.connect(actions.ask_add_files)
        d.add_folder_button.clicked.connect(actions.ask_add_folder)
        d.remove_button.clicked.connect(lambda: actions.remove_selected_roots(d.files_tree.selected_roots()))
        d.update_button.clicked.connect(actions.update_now)
        d.cancel_button.clicked.connect(actions.cancel_indexing)
        self.embedding_bar.modelChosen.connect(self.set_embedding_model)
        self.model_offer.chosen.connect(self.set_embedding_model)
        self.model_offer.failed.connect(lambda text: self.state.set_note(text, "error"))
        # A run may have just read the open collection's first passages: guess its language.
        ix.finished.connect(lambda name, _report: self._check_language(name))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.main_window and event.type() == QEvent.Type.Close:
            self.indexing.shutdown()
        return False

    # ---- what the page itself draws -----------------------------------------------------
    @property
    def current_name(self) -> str | None:
        """The open collection (None: there is none)."""
        return self.state.selected

    def _announce_collections(self, names: list[str]) -> None:
        self.collectionsChanged.emit(names)  # the Qt face of the state's event, for the picker

    def _on_selected(self, name: str | None) -> None:
        self.right.setCurrentIndex(0 if name is None else 1)
        self.model_offer.check_collection(name)
        if name is not None:
            self.indexing.request(name, user=False)  # cheap: only what changed is re-read

    def _check_language(self, name: str) -> None:
        if name == self.state.selected:
            self.model_offer.check_collection(name)

    def _show_note(self, note: Note | None) -> None:
        if note is None:
            self.note_label.hide()
            return
        self.note_label.setText(note.text)
        self.note_label.setProperty("level", note.level)
        self.note_label.style().unpolish(self.note_label)
        self.note_label.style().polish(self.note_label)
        self.note_label.show()

    # ---- what other parts of the app (and tests) ask of the page ------------------------
    def create_collection(self, name: str, roots: list[Path] | None = None) -> None:
        self.collection_actions.create_collection(name, roots)

    def add_paths(self, paths: list[Path]) -> None:
        self.collection_actions.add_paths(paths)

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
        self.collection_actions.add_paths(paths)

    # ---- embedding model ----------------------------------------------------------------
    def _show_embedding_setting(self) -> None:
        self.embedding_bar.show_setting(self.settings_store.current.embedding_model)

    def set_embedding_model(self, path: str) -> None:
        """Save the choice ("" = built-in); the store's event updates the collections for it."""
        try:
            self.settings_store.update(embedding_model=path)
        except OSError as exc:  # the choice still applies while the app runs
            not_saved = translate("documents", "Could not save the settings: {error}")
            self.state.set_note(not_saved.format(error=exc.strerror or exc), "error")

    def _on_settings_changed(self, names: set[str]) -> None:
        """Another embedding model (chosen here or anywhere else): show it, and index every
        collection again with it."""
        if names & {"embedding_model", "models_dir"}:
            self.model_offer.look()
        if "embedding_model" not in names:
            return
        self._show_embedding_setting()
        for name in self.state.names:
            self.indexing.request(name)
        if self.state.names:
            self.state.set_note(translate("documents", MODEL_CHANGED_NOTE))


def documents_page(window: Any) -> DocumentsPage | None:
    """The window's Documents page (for wiring the chat to it)."""
    found = window.findChild(DocumentsPage)
    return found if isinstance(found, DocumentsPage) else None
