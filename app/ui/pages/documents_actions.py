"""What the Documents page's buttons do to collections: create, rename, delete, add and remove
files and folders, update now. Each change to the index runs on the IO pool (ui/tasks.py), then
the page re-reads the list and starts an indexing run where files came or went. Split out of
documents.py by job; DocumentsPage inherits it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog, QInputDialog, QLabel, QMessageBox

from app.core.cancel import CancelToken
from app.ui.pages.documents_details import CollectionDetails
from app.ui.pages.documents_indexing import IndexingController
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    # mypy sees the QWidget that DocumentsPage brings (a parent for dialogs); at run time this
    # is a plain mixin.
    from PySide6.QtWidgets import QWidget as _WidgetBase

    from app.core.documents.index import Collection, DocumentIndex
else:
    _WidgetBase = object


def with_index(op: Callable[[DocumentIndex], Any]) -> Callable[[ProgressFn, CancelToken], Any]:
    """A task that opens the documents index on the worker, runs `op` on it, and closes it."""

    def work(_progress: ProgressFn, _cancel: CancelToken) -> Any:
        from app.core.documents.index import DocumentIndex  # numpy: imported on the worker

        with DocumentIndex() as idx:
            return op(idx)

    return work


class CollectionActionsMixin(_WidgetBase):
    # Provided by DocumentsPage (declared here so the dependencies are explicit).
    collections: dict[str, Collection]
    current_name: str | None
    indexing: IndexingController
    details: CollectionDetails
    note_label: QLabel

    if TYPE_CHECKING:  # from DocumentsPage

        def reload(self, select: str | None = None) -> None: ...
        def show_note(self, text: str, level: str = "info") -> None: ...
        def _show_error(self, exc: Exception) -> None: ...
        def _show_summary(self) -> None: ...

    def update_now(self) -> None:
        if self.current_name:
            self.note_label.hide()
            self.indexing.request(self.current_name, user=True)
            self._show_summary()

    def ask_new_collection(self) -> None:
        name, ok = QInputDialog.getText(self, "New collection", "Name of the collection:")
        if ok and name.strip():
            self.create_collection(name.strip())

    def create_collection(self, name: str, roots: list[Path] | None = None) -> None:
        def done(_c: Any) -> None:
            self.reload(select=name)
            if roots:
                self.indexing.request(name)

        run_task(
            with_index(lambda idx: idx.create_collection(name, roots or [])),
            name="documents-create",
            on_result=done,
            on_error=self._show_error,
        )

    def ask_rename(self) -> None:
        old = self.current_name
        if old is None or self.indexing.is_busy(old):
            if old:
                self.show_note("Please wait until indexing ends (or cancel it) to rename.")
            return
        name, ok = QInputDialog.getText(self, "Rename collection", "New name:", text=old)
        if not ok or not name.strip() or name.strip() == old:
            return
        new = name.strip()

        def done(_c: Any) -> None:
            self.indexing.forget(old)
            self.reload(select=new)

        run_task(
            with_index(lambda idx: idx.rename_collection(old, new)),
            name="documents-rename",
            on_result=done,
            on_error=self._show_error,
        )

    def ask_delete(self) -> None:
        name = self.current_name
        if name is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete collection",
            f"Delete the collection “{name}”?\n\nYour files stay where they are; only "
            "Enclave's index of them is removed.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.indexing.cancel(name)
        self.indexing.forget(name)

        def delete(idx: DocumentIndex) -> None:
            idx.delete_collection(name)

        run_task(
            with_index(delete),
            name="documents-delete",
            on_result=lambda _r: self.reload(),
            on_error=self._show_error,
        )

    def ask_add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self,
            "Add files",
            str(Path.home()),
            "Documents (*.pdf *.docx *.txt *.md *.markdown *.html *.htm *.csv);;All files (*)",
        )
        if paths:
            self.add_paths([Path(p) for p in paths])

    def ask_add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder", str(Path.home()))
        if folder:
            self.add_paths([Path(folder)])

    def add_paths(self, paths: list[Path]) -> None:
        """Add files/folders to the open collection (a new one named after them if none)."""
        if not paths:
            return
        name = self.current_name
        if name is None:
            base = paths[0].name or "Documents"
            name = base
            number = 2
            while name in self.collections:
                name, number = f"{base} {number}", number + 1
            self.create_collection(name, paths)
            return
        target = name

        def done(_c: Any) -> None:
            self.indexing.request(target)
            self.reload()

        run_task(
            with_index(lambda idx: idx.add_roots(target, paths)),
            name="documents-add",
            on_result=done,
            on_error=self._show_error,
        )

    def remove_selected_roots(self) -> None:
        roots = self.details.files_tree.selected_roots()
        name = self.current_name
        if not roots or name is None:
            return

        def done(_c: Any) -> None:
            self.indexing.request(name)  # the files leave the index on this run
            self.reload()

        run_task(
            with_index(lambda idx: idx.remove_roots(name, roots)),
            name="documents-remove",
            on_result=done,
            on_error=self._show_error,
        )
