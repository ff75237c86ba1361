"""Reading the Documents page's data: the collections, and the open collection's files, read
from the index on the IO pool (ui/tasks.py) and written into the page's state
(app/core/documents/collections_state.py), which tells the parts that draw them.

numpy and the index module are imported on the worker, so building the page costs the
window's start-up nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.core.cancel import CancelToken
from app.core.documents.collections_state import CollectionsState, FilesSnapshot
from app.ui.pages.documents_files import sentence
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    from app.core.documents.index import Collection, DocumentIndex


def with_index(op: Callable[[DocumentIndex], Any]) -> Callable[[ProgressFn, CancelToken], Any]:
    """A task that opens the documents index on the worker, runs `op` on it, and closes it."""

    def work(_progress: ProgressFn, _cancel: CancelToken) -> Any:
        from app.core.documents.index import DocumentIndex  # numpy: imported on the worker

        with DocumentIndex() as idx:
            return op(idx)

    return work


class CollectionsLoader:
    """Re-reads what the state shows: the list after every change, the open collection's files
    when it is opened (and while it is being indexed)."""

    def __init__(self, state: CollectionsState) -> None:
        self.state = state
        self._files_seq = 0  # only the latest read of the files is shown
        state.selected_changed.connect(self.load_files)

    def reload(self, select: str | None = None, *, on_read: Callable[[], None] | None = None) -> None:
        """Re-read the collections; open `select` (a collection just made or renamed).
        `on_read` runs when the list is back, just before it is shown (in the same turn of the
        event loop, so nothing is drawn in between), also when reading it failed."""

        def failed(exc: Exception) -> None:
            if on_read is not None:
                on_read()
            self.show_error(exc)

        run_task(
            with_index(lambda idx: idx.collections()),
            name="documents-list",
            on_result=lambda found: self._on_collections(found, select, on_read),
            on_error=failed,
        )

    def _on_collections(
        self, found: list[Collection], select: str | None, on_read: Callable[[], None] | None
    ) -> None:
        if on_read is not None:
            on_read()
        if not self.state.set_collections(found, select):
            self.load_files()  # the same one stays open: its files may have changed

    def load_files(self) -> None:
        """Read the open collection's record and files (nothing when none is open)."""
        name = self.state.selected
        if name is None:
            return
        self._files_seq += 1
        seq = self._files_seq

        def read(idx: DocumentIndex) -> FilesSnapshot | None:
            c = idx.find_collection(name)
            if c is None:
                return None
            missing = frozenset(r for r in c.roots if not os.path.exists(r))
            return FilesSnapshot(c, idx.files(c.id), missing)

        def show(snapshot: FilesSnapshot | None) -> None:
            if seq == self._files_seq and snapshot is not None:
                self.state.set_files(snapshot)  # ignored if another collection is open now

        run_task(with_index(read), name="documents-files", on_result=show)

    def show_error(self, exc: Exception) -> None:
        """A failed read or change of the index, in a sentence above the collections."""
        self.state.set_note(sentence(str(exc)), "error")
