"""The right side of the Documents page: one collection's name, what is in it, the buttons that
change it, indexing progress with Cancel, and the tree of its files with each one's status.
Presentation only: it draws the open collection as the page's state holds it
(app/core/documents/collections_state.py) and redraws when the state says so; the page
connects the buttons to what they do.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.observe import observe
from app.ui.pages.documents_files import FilesTree

if TYPE_CHECKING:
    from app.core.documents.collections_state import CollectionsState, FilesSnapshot
    from app.core.documents.index import Collection
    from app.core.documents.indexer import IndexProgress


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def progress_text(p: IndexProgress) -> str:
    if p.phase == "embedding":
        text = f"Preparing search: {p.files_done} of {p.files_total} passages"
    else:
        text = f"Reading files: {p.files_done} of {p.files_total}"
        if p.chunks_done:
            text += f" · {p.chunks_done} passages"
        if p.detail:  # a slow step inside one file: "report.pdf: reading scanned page 3 of 12"
            where = os.path.basename(p.current_file or "")
            text += f" · {where}: {p.detail}" if where else f" · {p.detail}"
    if p.eta_s is not None:
        text += f" · {_duration(p.eta_s)}"
    return text


class CollectionDetails(QWidget):
    """The chosen collection: name and Rename/Delete, a summary, Add/Remove/Update, the progress
    panel (hidden while nothing runs) and the files tree."""

    def __init__(self, state: CollectionsState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 0, 0, 0)
        top = QHBoxLayout()
        self.name_label = QLabel()
        self.name_label.setObjectName("collectionName")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("dangerButton")
        top.addWidget(self.name_label, 1)
        top.addWidget(self.rename_button)
        top.addWidget(self.delete_button)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("collectionSummary")
        self.summary_label.setWordWrap(True)

        actions = QHBoxLayout()
        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove from collection")
        self.remove_button.setEnabled(False)  # until roots are selected in the tree
        self.update_button = QPushButton("Update now")
        self.update_button.setToolTip("Read again the files that changed since the last time")
        for button in (self.add_files_button, self.add_folder_button, self.remove_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.update_button)

        self.progress_panel = QFrame()
        self.progress_panel.setObjectName("indexingPanel")
        panel = QHBoxLayout(self.progress_panel)
        panel.setContentsMargins(10, 6, 6, 6)
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedWidth(180)
        self.cancel_button = QPushButton("Cancel")
        panel.addWidget(self.progress_label, 1)
        panel.addWidget(self.progress_bar)
        panel.addWidget(self.cancel_button)
        self.progress_panel.hide()

        self.files_tree = FilesTree()
        hint = QLabel("Tip: drag files or folders from your file manager onto this page.")
        hint.setObjectName("dropHint")

        layout.addLayout(top)
        layout.addWidget(self.summary_label)
        layout.addLayout(actions)
        layout.addWidget(self.progress_panel)
        layout.addWidget(self.files_tree, 1)
        layout.addWidget(hint)
        self.files_tree.itemSelectionChanged.connect(
            lambda: self.remove_button.setEnabled(bool(self.files_tree.selected_roots()))
        )
        observe(state.selected_changed, self, self._on_selected)
        observe(state.collections_changed, self, self._refresh_summary)
        observe(state.collection_changed, self, self._on_collection_read)
        observe(state.busy_changed, self, self._refresh_summary)
        observe(state.files_changed, self, self._on_files)
        observe(state.progress_changed, self, self._on_progress)

    # ---- the state's events -------------------------------------------------------------
    def _on_selected(self, name: str | None) -> None:
        if name is None:
            return  # the page shows its "no collection yet" side instead
        self.files_tree.clear()
        self.name_label.setText(name)
        self._refresh_summary()
        self.show_progress(self.state.progress(name))

    def _on_collection_read(self, name: str) -> None:
        if name == self.state.selected:
            self._refresh_summary()

    def _refresh_summary(self) -> None:
        c = self.state.selected_collection
        if c is not None:
            self.show_summary(c, self.state.is_busy(c.name))

    def _on_files(self, snapshot: FilesSnapshot) -> None:
        self.files_tree.show_files(snapshot.collection.roots, snapshot.files, snapshot.missing)

    def _on_progress(self, name: str, progress: IndexProgress | None) -> None:
        if name == self.state.selected:
            self.show_progress(progress)

    # ---- drawing ------------------------------------------------------------------------

    def show_summary(self, c: Collection, busy: bool) -> None:
        """What the collection holds, in words; `busy` = an indexing run for it is going on."""
        if not c.roots:
            text = "Empty: add files or folders to this collection."
        else:
            ok = c.n_files - c.n_errors
            text = f"{ok} document{'s' if ok != 1 else ''} indexed · {c.n_chunks} passages"
            if c.n_errors:
                text += f" · {c.n_errors} could not be read"
            if c.state == "indexing" and not busy:
                text += " · Indexing was stopped before the end"
        self.summary_label.setText(text)
        stopped = c.state == "indexing" and not busy
        self.update_button.setText("Resume indexing" if stopped else "Update now")
        self.update_button.setEnabled(not busy and bool(c.roots))

    def show_progress(self, p: IndexProgress | None) -> None:
        """The progress panel for a running pass, or hidden (None)."""
        if p is None:
            self.progress_panel.hide()
            return
        self.progress_label.setText(progress_text(p))
        self.progress_bar.setRange(0, max(1, p.files_total))
        self.progress_bar.setValue(p.files_done)
        self.progress_panel.show()
