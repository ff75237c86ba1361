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

from app.core.i18n import number, translate
from app.ui.flow_layout import flow_row
from app.ui.observe import observe
from app.ui.pages.documents_files import FilesTree

if TYPE_CHECKING:
    from app.core.documents.collections_state import CollectionsState, FilesSnapshot
    from app.core.documents.index import Collection
    from app.core.documents.indexer import IndexProgress


def _duration(seconds: float) -> str:
    if seconds < 60:
        return translate("documents_details", "about {seconds} s left").format(seconds=max(1, round(seconds)))
    if seconds < 3600:
        return translate("documents_details", "about {minutes} min left").format(minutes=round(seconds / 60))
    return translate("documents_details", "about {hours} h left").format(hours=number(seconds / 3600, 1))


def progress_text(p: IndexProgress) -> str:
    if p.phase == "re-embedding":
        # Another embedding model was chosen: search goes on with the old one meanwhile.
        text = translate(
            "documents_details", "Updating search for the new model: {done} of {total} passages"
        ).format(done=number(p.files_done), total=number(p.files_total))
    elif p.phase == "embedding":
        text = translate("documents_details", "Preparing search: {done} of {total} passages").format(
            done=number(p.files_done), total=number(p.files_total)
        )
    else:
        text = translate("documents_details", "Reading files: {done} of {total}").format(
            done=number(p.files_done), total=number(p.files_total)
        )
        if p.chunks_done:
            text += " · " + translate("documents_details", "%n passages", n=p.chunks_done)
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
        self.rename_button = QPushButton(translate("documents_details", "Rename…"))
        self.delete_button = QPushButton(translate("documents_details", "Delete…"))
        self.delete_button.setObjectName("dangerButton")
        top.addWidget(self.name_label, 1)
        top.addWidget(self.rename_button)
        top.addWidget(self.delete_button)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("collectionSummary")
        self.summary_label.setWordWrap(True)

        self.add_files_button = QPushButton(translate("documents_details", "Add files…"))
        self.add_folder_button = QPushButton(translate("documents_details", "Add folder…"))
        self.remove_button = QPushButton(translate("documents_details", "Remove from collection"))
        self.remove_button.setEnabled(False)  # until roots are selected in the tree
        self.update_button = QPushButton(translate("documents_details", "Update now"))
        self.update_button.setToolTip(
            translate("documents_details", "Read again the files that changed since the last time")
        )
        # A row that wraps: in German these four are 620 px side by side (app/ui/flow_layout.py).
        actions = flow_row(
            [self.add_files_button, self.add_folder_button, self.remove_button, self.update_button]
        )

        self.progress_panel = QFrame()
        self.progress_panel.setObjectName("indexingPanel")
        panel = QHBoxLayout(self.progress_panel)
        panel.setContentsMargins(10, 6, 6, 6)
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedWidth(180)
        self.cancel_button = QPushButton(translate("documents_details", "Cancel"))
        panel.addWidget(self.progress_label, 1)
        panel.addWidget(self.progress_bar)
        panel.addWidget(self.cancel_button)
        self.progress_panel.hide()

        self.files_tree = FilesTree()
        hint = QLabel(
            translate(
                "documents_details", "Tip: drag files or folders from your file manager onto this page."
            )
        )
        hint.setObjectName("dropHint")
        hint.setWordWrap(True)

        layout.addLayout(top)
        layout.addWidget(self.summary_label)
        layout.addWidget(actions)
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
            text = translate("documents_details", "Empty: add files or folders to this collection.")
        else:
            ok = c.n_files - c.n_errors
            text = translate("documents_details", "%n documents indexed", n=ok)
            text += " · " + translate("documents_details", "%n passages", n=c.n_chunks)
            if c.n_errors:
                text += " · " + translate("documents_details", "%n could not be read", n=c.n_errors)
            if c.state == "indexing" and not busy:
                text += " · " + translate("documents_details", "Indexing was stopped before the end")
        self.summary_label.setText(text)
        stopped = c.state == "indexing" and not busy
        if stopped:
            self.update_button.setText(translate("documents_details", "Resume indexing"))
        else:
            self.update_button.setText(translate("documents_details", "Update now"))
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
