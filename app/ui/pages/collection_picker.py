"""Which document collections the current conversation answers from: a compact tool button
("Documents: Company docs") with a menu of checkable collections.

The choice is stored in the conversation's settings under "collections" (ChatStore). Before a
new chat has a conversation row, the choice is kept here and written by `set_conversation`.
Collection names come from the Documents page (`DocumentsPage.collectionsChanged`) or from
`refresh()`, which reads them on a worker.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from app.core.cancel import CancelToken
from app.core.i18n import translate, translate_noop
from app.ui.tasks import ProgressFn, run_task

SETTINGS_KEY = "collections"
SHOWN_NAME_CHARS = 22  # a long collection name is cut ("…") so the question box keeps its room
CHOOSE_TIP = translate_noop("collection_picker", "Answer from your documents: choose the collections to use")


class CollectionPicker(QToolButton):
    collectionsChanged = Signal(list)  # the names now selected for this conversation
    manageRequested = Signal()  # "Manage documents…": show the Documents page

    def __init__(self, store: Any | None, parent: QWidget | None = None) -> None:
        """store: where the choice is kept (ChatStore); None when another owner keeps it (the
        chat window's session) and the picker only shows it (`show_selected`)."""
        super().__init__(parent)
        self.setObjectName("collectionPicker")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolTip(translate("collection_picker", CHOOSE_TIP))
        self.store = store
        self.conversation_id: int | None = None
        self._available: list[str] = []
        self._selected: list[str] = []
        self.menu_ = QMenu(self)
        self.menu_.aboutToShow.connect(self._rebuild_menu)
        self.setMenu(self.menu_)
        self._rebuild_menu()
        self._update_text()

    # ---- data ---------------------------------------------------------------------------
    def selected(self) -> list[str]:
        """The collections to use, in the order they are listed; never deleted ones."""
        return [n for n in self._selected if not self._available or n in self._available]

    def set_conversation(self, conversation_id: int | None, *, just_created: bool = False) -> None:
        """Show (and from now on store) the choice of this conversation. A new chat (None)
        keeps the current choice; `just_created=True` right after the conversation row is
        made writes that choice into it instead of reading the (empty) stored one."""
        self.conversation_id = conversation_id
        if conversation_id is None or self.store is None:
            return
        if just_created:
            self._save()
        else:
            conversation = self.store.get_conversation(conversation_id)
            settings = conversation.settings if conversation else {}
            self._selected = [str(n) for n in settings.get(SETTINGS_KEY, [])]
        self._update_text()

    def set_available(self, names: list[str]) -> None:
        self._available = list(names)
        self._rebuild_menu()
        self._update_text()

    def refresh(self) -> None:
        """Read the collection names on a worker."""

        def names(_progress: ProgressFn, _cancel: CancelToken) -> list[str]:
            from app.core.documents.index import DocumentIndex

            with DocumentIndex() as idx:
                return [c.name for c in idx.collections()]

        run_task(names, name="collection-names", on_result=self.set_available)

    def show_selected(self, names: list[str]) -> None:
        """Show a choice made elsewhere (the chat session's), without announcing it again."""
        self._selected = [n for n in names if n]
        self._update_text()

    def set_selected(self, names: list[str]) -> None:
        self._selected = [n for n in names if n]
        self._save()
        self._update_text()
        self.collectionsChanged.emit(self.selected())

    def _save(self) -> None:
        if self.conversation_id is None or self.store is None:
            return
        conversation = self.store.get_conversation(self.conversation_id)
        if conversation is None:
            return
        settings = dict(conversation.settings)
        settings[SETTINGS_KEY] = list(self._selected)
        self.store.update_conversation(self.conversation_id, settings=settings)

    # ---- drawing ------------------------------------------------------------------------
    def _update_text(self) -> None:
        chosen = self.selected()
        if not chosen:
            self.setText(translate("collection_picker", "Documents: off"))
        elif len(chosen) == 1:
            name = chosen[0]
            short = name if len(name) <= SHOWN_NAME_CHARS else name[: SHOWN_NAME_CHARS - 1].rstrip() + "…"
            self.setText(translate("collection_picker", "Documents: {collection}").format(collection=short))
        else:
            self.setText(translate("collection_picker", "Documents: %n collections", n=len(chosen)))
        choose = translate("collection_picker", CHOOSE_TIP)
        self.setToolTip(
            translate("collection_picker", "Answering from: {collections}. {choose}.").format(
                collections=", ".join(chosen), choose=choose
            )
            if chosen
            else choose
        )
        self.setProperty("active", bool(chosen))
        self.style().unpolish(self)
        self.style().polish(self)

    def _rebuild_menu(self) -> None:
        menu = self.menu_
        menu.clear()
        if not self._available:
            empty = menu.addAction(translate("collection_picker", "No collections yet"))
            empty.setEnabled(False)
        for name in self._available:
            action = QAction(name, menu)
            action.setCheckable(True)
            action.setChecked(name in self._selected)
            action.toggled.connect(lambda on, n=name: self._toggle(n, on))
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(translate("collection_picker", "Manage documents…"), self.manageRequested.emit)

    def _toggle(self, name: str, on: bool) -> None:
        names = [n for n in self._selected if n != name]
        if on:
            names.append(name)
        names.sort(key=lambda n: self._available.index(n) if n in self._available else 0)
        self.set_selected(names)

    def actions_by_name(self) -> dict[str, QAction]:
        """The menu's collection actions (for tests and keyboard users' scripts)."""
        self._rebuild_menu()
        return {a.text(): a for a in self.menu_.actions() if a.isCheckable()}
