"""The left side of the Documents page: the list of collections ("· updating…" beside one being
indexed) and the "New collection…" button. It draws the collections the page's state holds
(app/core/documents/collections_state.py) and hands the user's choice back to it; the state
decides what is open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from app.core.i18n import translate
from app.ui.observe import observe

if TYPE_CHECKING:
    from app.core.documents.collections_state import CollectionsState
    from app.core.documents.index import Collection

NAME_ROLE = Qt.ItemDataRole.UserRole  # the collection's name; the text may say "updating…"


def _list_text(c: Collection, busy: bool) -> str:
    if not busy:
        return c.name
    return translate("documents_collections_pane", "{collection}  ·  updating…").format(collection=c.name)


class CollectionsPane(QFrame):
    def __init__(self, state: CollectionsState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("collectionsPane")
        self.state = state
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 8, 0)
        heading = QLabel(translate("documents_collections_pane", "Collections"))
        heading.setObjectName("sectionTitle")
        self.list = QListWidget()
        self.list.setObjectName("collectionsList")
        self.list.setAccessibleName(translate("documents_collections_pane", "Document collections"))
        self.new_button = QPushButton(translate("documents_collections_pane", "New collection…"))
        self.new_button.setObjectName("newCollectionButton")
        layout.addWidget(heading)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.new_button)
        self.list.currentItemChanged.connect(self._on_current_changed)
        observe(state.collections_changed, self, self.show_collections)
        observe(state.selected_changed, self, self._show_selected)
        observe(state.busy_changed, self, self.refresh_texts)

    def show_collections(self) -> None:
        """Fill the list and select the open collection, without reporting that as the
        user's choice (the state already knows)."""
        blocker = self.list.blockSignals(True)
        self.list.clear()
        for c in self.state.collections():
            item = QListWidgetItem(_list_text(c, self.state.is_busy(c.name)))
            item.setData(NAME_ROLE, c.name)
            self.list.addItem(item)
            if c.name == self.state.selected:
                self.list.setCurrentItem(item)
        self.list.blockSignals(blocker)

    def _show_selected(self, name: str | None) -> None:
        current = self.list.currentItem()
        if (current.data(NAME_ROLE) if current is not None else None) == name:
            return
        blocker = self.list.blockSignals(True)
        self.list.setCurrentRow(-1)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(NAME_ROLE) == name:
                self.list.setCurrentItem(item)
        self.list.blockSignals(blocker)

    def refresh_texts(self) -> None:
        """Update the "updating…" marks after an indexing run was queued, started or ended."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            c = self.state.get(item.data(NAME_ROLE))
            if c is not None:
                item.setText(_list_text(c, self.state.is_busy(c.name)))

    def _on_current_changed(self, item: QListWidgetItem | None, _previous: Any = None) -> None:
        self.state.select(item.data(NAME_ROLE) if item is not None else None)
