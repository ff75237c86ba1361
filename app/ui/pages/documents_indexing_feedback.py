"""What the Documents page shows while indexing runs: the "updating…" marks, the progress panel,
the files re-read as they are indexed, and a note when a run ends, stops or fails. These are
the page's answers to IndexingController's signals (documents_indexing.py). Split out of
documents.py by job; DocumentsPage inherits it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

from app.ui.pages.documents_collections_pane import CollectionsPane
from app.ui.pages.documents_details import CollectionDetails
from app.ui.pages.documents_files import sentence
from app.ui.pages.documents_indexing import IndexingController

if TYPE_CHECKING:
    from app.core.documents.index import Collection
    from app.core.documents.indexer import IndexProgress, IndexReport


class IndexingFeedbackMixin:
    # Provided by DocumentsPage (declared here so the dependencies are explicit).
    collections: dict[str, Collection]
    current_name: str | None
    indexing: IndexingController
    collections_pane: CollectionsPane
    details: CollectionDetails
    note_label: QLabel
    files_timer: QTimer  # re-reads the open collection's files while it is being indexed

    if TYPE_CHECKING:  # from DocumentsPage

        def reload(self, select: str | None = None) -> None: ...
        def show_note(self, text: str, level: str = "info") -> None: ...
        def _show_summary(self) -> None: ...

    def _on_started(self, name: str) -> None:
        self.collections_pane.refresh_texts(self.collections, self.indexing.is_busy)
        if name == self.current_name:
            self._show_summary()

    def _on_progress(self, name: str, p: IndexProgress) -> None:
        if name != self.current_name:
            return
        if p.phase in ("indexing", "embedding") and p.files_total > 0:
            self._show_progress(p)
            if not self.files_timer.isActive():
                self.files_timer.start()

    def _show_progress(self, p: IndexProgress | None) -> None:
        self.details.show_progress(p)
        if p is None:
            self.files_timer.stop()  # nothing runs: the files no longer change under us

    def _ended(self, name: str) -> None:
        if name == self.current_name:
            self._show_progress(None)
        self.reload()

    def _on_finished(self, name: str, report: IndexReport) -> None:
        self._ended(name)
        if name == self.current_name:
            if report.note:
                self.show_note(report.note, "info")
            elif report.added or report.changed or report.removed:
                self.note_label.hide()

    def _on_stopped(self, name: str) -> None:
        self._ended(name)
        if name == self.current_name:
            self.show_note(
                "Indexing stopped. What was read so far is kept and already searchable; "
                "click “Resume indexing” to go on.",
                "info",
            )

    def _on_failed(self, name: str, message: str) -> None:
        self._ended(name)
        if name == self.current_name:
            self.show_note(f"Indexing failed: {sentence(message)}", "error")
