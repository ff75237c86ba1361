"""What the Documents page shows while indexing runs: it turns IndexingController's signals
(documents_indexing.py) into the page's state (app/core/documents/collections_state.py) — which
collections are busy, the running run's progress, a note when a run ends, stops or fails — and
re-reads the open collection's files while they are being indexed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from app.core.documents.collections_state import CollectionsState
from app.core.i18n import translate, translate_noop
from app.ui.observe import observe
from app.ui.pages.documents_files import sentence
from app.ui.pages.documents_indexing import IndexingController
from app.ui.pages.documents_loader import CollectionsLoader

if TYPE_CHECKING:
    from app.core.documents.indexer import IndexProgress, IndexReport

FILES_REFRESH_MS = 1500  # while indexing, the open collection's files are re-read this often
SHOWN_PHASES = ("indexing", "embedding", "re-embedding")  # the phases with a count worth a progress bar

STOPPED_NOTE = translate_noop(
    "documents_indexing_feedback",
    "Indexing stopped. What was read so far is kept and already searchable; "
    "click “Resume indexing” to go on.",
)


class IndexingFeedback:
    def __init__(
        self,
        state: CollectionsState,
        indexing: IndexingController,
        loader: CollectionsLoader,
        timer_parent: QObject,
    ) -> None:
        self.state = state
        self.indexing = indexing
        self.loader = loader
        self.files_timer = QTimer(timer_parent)
        self.files_timer.setInterval(FILES_REFRESH_MS)
        self.files_timer.timeout.connect(loader.load_files)
        indexing.busy_changed.connect(self._sync_busy)
        indexing.progress.connect(self._on_progress)
        indexing.finished.connect(self._on_finished)
        indexing.stopped.connect(self._on_stopped)
        indexing.failed.connect(self._on_failed)
        observe(state.selected_changed, self.files_timer, self._update_timer)
        observe(state.progress_changed, self.files_timer, self._update_timer)

    def _sync_busy(self) -> None:
        self.state.set_busy(self.indexing.busy_names())

    def _on_progress(self, name: str, p: IndexProgress) -> None:
        if p.phase in SHOWN_PHASES and p.files_total > 0:
            self.state.set_progress(name, p)

    def _update_timer(self) -> None:
        """The files change under the open collection only while a run for it goes on."""
        if self.state.progress(self.state.selected) is None:
            self.files_timer.stop()
        elif not self.files_timer.isActive():
            self.files_timer.start()

    def _ended(self, name: str) -> None:
        self.state.set_progress(name, None)
        # Not busy any more once its record is read again: until then the page keeps showing
        # it as running, never as "stopped before the end" (its record still says "indexing").
        self.loader.reload(on_read=self._sync_busy)

    def _on_finished(self, name: str, report: IndexReport) -> None:
        self._ended(name)
        if name == self.state.selected:
            if report.note:
                self.state.set_note(report.note, "info")
            elif report.added or report.changed or report.removed:
                self.state.set_note(None)

    def _on_stopped(self, name: str) -> None:
        self._ended(name)
        if name == self.state.selected:
            self.state.set_note(translate("documents_indexing_feedback", STOPPED_NOTE), "info")

    def _on_failed(self, name: str, message: str) -> None:
        self._ended(name)
        if name == self.state.selected:
            failed = translate("documents_indexing_feedback", "Indexing failed: {reason}")
            self.state.set_note(failed.format(reason=sentence(message)), "error")
