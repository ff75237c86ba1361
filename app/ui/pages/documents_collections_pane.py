"""The left side of the Documents page: the list of collections ("· updating…" beside one being
indexed) and the "New collection…" button. It only shows names and reports the choice; the page
reads the collections on a worker and decides what to open. Split out of documents.py by job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from app.core.documents.index import Collection

NAME_ROLE = Qt.ItemDataRole.UserRole  # the collection's name; the text may say "updating…"

IsBusy = Callable[[str], bool]  # does an indexing run for this collection go on?


def _list_text(c: Collection, is_busy: IsBusy) -> str:
    if is_busy(c.name):
        return f"{c.name}  ·  updating…"
    return c.name


class CollectionsPane(QFrame):
    currentChanged = Signal(object)  # the chosen collection's name, or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("collectionsPane")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 8, 0)
        heading = QLabel("Collections")
        heading.setObjectName("sectionTitle")
        self.list = QListWidget()
        self.list.setObjectName("collectionsList")
        self.new_button = QPushButton("New collection…")
        self.new_button.setObjectName("newCollectionButton")
        layout.addWidget(heading)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.new_button)
        self.list.currentItemChanged.connect(self._on_current_changed)

    def show_collections(self, found: list[Collection], wanted: str | None, is_busy: IsBusy) -> None:
        """Fill the list and select `wanted`, without reporting that as the user's choice (the
        page opens `wanted` itself)."""
        blocker = self.list.blockSignals(True)
        self.list.clear()
        for c in found:
            item = QListWidgetItem(_list_text(c, is_busy))
            item.setData(NAME_ROLE, c.name)
            self.list.addItem(item)
            if c.name == wanted:
                self.list.setCurrentItem(item)
        self.list.blockSignals(blocker)

    def refresh_texts(self, collections: dict[str, Collection], is_busy: IsBusy) -> None:
        """Update the "updating…" marks after an indexing run started or ended."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            c = collections.get(item.data(NAME_ROLE))
            if c is not None:
                item.setText(_list_text(c, is_busy))

    def _on_current_changed(self, item: QListWidgetItem | None, _previous: Any = None) -> None:
        self.currentChanged.emit(item.data(NAME_ROLE) if item is not None else None)
