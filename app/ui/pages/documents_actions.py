"""What the Documents page's buttons do to collections: create, rename, delete, add and remove
files and folders, update now. Each change to the index runs on the IO pool (ui/tasks.py), then
the list is read again and an indexing run starts where files came or went.

A plain object given what it works with: the page's state (what is open), the indexing
controller, the loader (to read the list again) and a widget to parent its dialogs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from app.core.documents.collections_state import CollectionsState
from app.core.i18n import translate, translate_noop
from app.ui.pages.documents_indexing import IndexingController
from app.ui.pages.documents_loader import CollectionsLoader, with_index
from app.ui.tasks import run_task

if TYPE_CHECKING:
    from app.core.documents.index import DocumentIndex

DOCUMENT_FILTER = translate_noop(
    "documents_actions", "Documents (*.pdf *.docx *.txt *.md *.markdown *.html *.htm *.csv);;All files (*)"
)


class CollectionActions:
    def __init__(
        self,
        state: CollectionsState,
        indexing: IndexingController,
        loader: CollectionsLoader,
        dialog_parent: QWidget,
    ) -> None:
        self.state = state
        self.indexing = indexing
        self.loader = loader
        self.dialog_parent = dialog_parent

    def update_now(self) -> None:
        name = self.state.selected
        if name:
            self.state.set_note(None)
            self.indexing.request(name, user=True)

    def cancel_indexing(self) -> None:
        """The progress panel's Cancel: stop the run that is going on."""
        self.indexing.cancel(self.indexing.current)

    def ask_new_collection(self) -> None:
        name, ok = QInputDialog.getText(
            self.dialog_parent,
            translate("documents_actions", "New collection"),
            translate("documents_actions", "Name of the collection:"),
        )
        if ok and name.strip():
            self.create_collection(name.strip())

    def create_collection(self, name: str, roots: list[Path] | None = None) -> None:
        def done(_c: Any) -> None:
            self.loader.reload(select=name)
            if roots:
                self.indexing.request(name)

        run_task(
            with_index(lambda idx: idx.create_collection(name, roots or [])),
            name="documents-create",
            on_result=done,
            on_error=self.loader.show_error,
        )

    def ask_rename(self) -> None:
        old = self.state.selected
        if old is None or self.indexing.is_busy(old):
            if old:
                self.state.set_note(
                    translate(
                        "documents_actions", "Please wait until indexing ends (or cancel it) to rename."
                    )
                )
            return
        name, ok = QInputDialog.getText(
            self.dialog_parent,
            translate("documents_actions", "Rename collection"),
            translate("documents_actions", "New name:"),
            text=old,
        )
        if not ok or not name.strip() or name.strip() == old:
            return
        new = name.strip()

        def done(_c: Any) -> None:
            self.indexing.forget(old)
            self.loader.reload(select=new)

        run_task(
            with_index(lambda idx: idx.rename_collection(old, new)),
            name="documents-rename",
            on_result=done,
            on_error=self.loader.show_error,
        )

    def ask_delete(self) -> None:
        name = self.state.selected
        if name is None:
            return
        answer = QMessageBox.question(
            self.dialog_parent,
            translate("documents_actions", "Delete collection"),
            translate(
                "documents_actions",
                "Delete the collection “{collection}”?\n\nYour files stay where they are; only "
                "Enclave's index of them is removed.",
            ).format(collection=name),
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
            on_result=lambda _r: self.loader.reload(),
            on_error=self.loader.show_error,
        )

    def ask_add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self.dialog_parent,
            translate("documents_actions", "Add files"),
            str(Path.home()),
            translate("documents_actions", DOCUMENT_FILTER),
        )
        if paths:
            self.add_paths([Path(p) for p in paths])

    def ask_add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.dialog_parent, translate("documents_actions", "Add a folder"), str(Path.home())
        )
        if folder:
            self.add_paths([Path(folder)])

    def add_paths(self, paths: list[Path]) -> None:
        """Add files/folders to the open collection (a new one named after them if none)."""
        if not paths:
            return
        target = self.state.selected
        if target is None:
            base = paths[0].name or translate("documents_actions", "Documents")
            name, number = base, 2
            while name in self.state.names:
                name, number = f"{base} {number}", number + 1
            self.create_collection(name, paths)
            return

        def done(_c: Any) -> None:
            self.indexing.request(target)
            self.loader.reload()

        run_task(
            with_index(lambda idx: idx.add_roots(target, paths)),
            name="documents-add",
            on_result=done,
            on_error=self.loader.show_error,
        )

    def remove_selected_roots(self, roots: list[str]) -> None:
        """Take these roots (folders or files added on their own) out of the open collection."""
        name = self.state.selected
        if not roots or name is None:
            return

        def done(_c: Any) -> None:
            self.indexing.request(name)  # the files leave the index on this run
            self.loader.reload()

        run_task(
            with_index(lambda idx: idx.remove_roots(name, roots)),
            name="documents-remove",
            on_result=done,
            on_error=self.loader.show_error,
        )
