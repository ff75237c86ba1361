"""The sidebar: a search box, conversations newest first, and what can be done to each.

It is given the window's ChatStore (`store=` or `set_store`). Search runs the store's FTS5 query
on the GUI thread after a short pause in typing: the query is small and indexed. Delete is a soft
delete with an "Undo" strip; when the strip goes away the conversation is purged for good.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.export import (
    export_json,
    export_markdown,
    import_json_file,
    suggested_filename,
)
from app.core.chat.store import ChatStore, Conversation
from app.core.i18n import translate, translate_noop

log = logging.getLogger("enclave.ui.conversations")

ID_ROLE = Qt.ItemDataRole.UserRole
TITLE_ROLE = Qt.ItemDataRole.UserRole + 1
EMPTY_TEXT = translate_noop("conversation_list", "No conversations yet — ask a question to start one")
NO_MATCH_TEXT = translate_noop("conversation_list", "No conversations match “{query}”")
UNDO_MS = 8000
NOTICE_MS = 6000
SEARCH_DEBOUNCE_MS = 150
SNIPPET_CHARS = 90


class ConversationList(QFrame):
    conversationSelected = Signal(int)
    newChatRequested = Signal()
    conversationDeleted = Signal(int)  # soft-deleted: clear the chat if it was open
    conversationsChanged = Signal()  # renamed, deleted, restored or imported: refresh the list
    statusMessage = Signal(str)  # "Saved …", for the window's status bar

    def __init__(self, parent: QWidget | None = None, *, store: ChatStore | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.store: ChatStore | None = store
        self.undo_ms = UNDO_MS
        self._all: list[Conversation] = []
        self._current_id: int | None = None
        self._updating = False
        self._renaming_id: int | None = None
        self._pending_delete: int | None = None
        self._last_dir = ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        top = QHBoxLayout()
        top.setSpacing(4)
        self.new_button = QPushButton(translate("conversation_list", "+  New chat"))
        self.new_button.setObjectName("newChatButton")
        self.new_button.setToolTip(translate("conversation_list", "Start a new conversation (Ctrl+N)"))
        self.new_button.clicked.connect(self.newChatRequested)
        top.addWidget(self.new_button, 1)
        self.import_button = QToolButton()
        self.import_button.setObjectName("importButton")
        self.import_button.setText(translate("conversation_list", "Import…"))
        self.import_button.setToolTip(
            translate("conversation_list", "Import a conversation saved as JSON by Enclave")
        )
        self.import_button.clicked.connect(self.import_conversation)
        top.addWidget(self.import_button)
        layout.addLayout(top)

        self.search = QLineEdit()
        self.search.setObjectName("conversationSearch")
        self.search.setAccessibleName(translate("conversation_list", "Search conversations"))
        self.search.setPlaceholderText(translate("conversation_list", "Search conversations  (Ctrl+K)"))
        self.search.setClearButtonEnabled(True)
        self.search.installEventFilter(self)
        self.search.returnPressed.connect(self._open_first)
        layout.addWidget(self.search)
        self.history_lock: QLabel | None = None
        if store is not None and not store.keeps_history:  # the organisation's keep_history
            from app.ui.policy_view import lock_note

            self.history_lock = lock_note(
                translate(
                    "conversation_list",
                    "Your organisation has turned off chat history: conversations are not saved and "
                    "are gone when Enclave closes.",
                )
            )
            layout.addWidget(self.history_lock)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._render)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())

        self.empty_label = QLabel(translate("conversation_list", EMPTY_TEXT))
        self.empty_label.setObjectName("sidebarEmpty")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.empty_label)

        self.list = QListWidget()
        self.list.setObjectName("conversationList")
        # Long titles end in "…" instead of a sideways scroll bar.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._show_context_menu)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDelegate().closeEditor.connect(self._on_editor_closed)
        self.list.setEditTriggers(QListWidget.EditTrigger.EditKeyPressed)
        layout.addWidget(self.list, 1)
        for key, slot in (
            (QKeySequence(Qt.Key.Key_F2), self._rename_current),
            (QKeySequence(QKeySequence.StandardKey.Delete), self._delete_current),
        ):
            action = QAction(self.list)
            action.setShortcut(key)
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.triggered.connect(slot)
            self.list.addAction(action)

        self.notice_label = QLabel()
        self.notice_label.setObjectName("sidebarNotice")
        self.notice_label.setWordWrap(True)
        self.notice_label.hide()
        layout.addWidget(self.notice_label)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice_label.hide)

        self.undo_strip = QFrame()
        self.undo_strip.setObjectName("undoStrip")
        strip = QHBoxLayout(self.undo_strip)
        strip.setContentsMargins(8, 4, 4, 4)
        self.undo_label = QLabel()
        self.undo_label.setObjectName("undoLabel")
        strip.addWidget(self.undo_label, 1)
        self.undo_button = QPushButton(translate("conversation_list", "Undo"))
        self.undo_button.setObjectName("undoButton")
        self.undo_button.clicked.connect(self.undo_delete)
        strip.addWidget(self.undo_button)
        self.undo_strip.hide()
        layout.addWidget(self.undo_strip)
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self.finish_pending_delete)
        self._render()

    # ---- feeding -------------------------------------------------------------------------
    def set_store(self, store: ChatStore) -> None:
        self.store = store
        self._render()

    def set_conversations(self, conversations: list[Conversation], current_id: int | None) -> None:
        """The full list (newest first) and the open one; an active search stays applied."""
        self._all = [c for c in conversations if c.id != self._pending_delete]
        self._current_id = current_id
        self._render()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _reload(self) -> None:
        if self.store is not None:
            self._all = self.store.list_conversations()
        self._render()

    def _render(self) -> None:
        if self._renaming_id is not None:
            return  # never pull the item from under the editor; rendered when it closes
        query = self.search.text().strip()
        entries: list[tuple[Conversation, str]]
        if query and self.store is not None:
            entries = [(h.conversation, h.snippet) for h in self.store.search_conversations(query)]
        elif query:
            entries = [(c, "") for c in self._all if query.casefold() in c.title.casefold()]
        else:
            entries = [(c, "") for c in self._all]
        self._updating = True
        try:
            self.list.clear()
            for conversation, snippet in entries:
                title = conversation.title or translate("conversation_list", "New chat")
                if len(snippet) > SNIPPET_CHARS:
                    snippet = snippet[: SNIPPET_CHARS - 1].rstrip() + "…"
                item = QListWidgetItem(f"{title}\n{snippet}" if snippet else title)
                item.setData(ID_ROLE, conversation.id)
                item.setData(TITLE_ROLE, conversation.title)
                item.setToolTip(f"{title}\n{snippet}" if snippet else conversation.title)
                self.list.addItem(item)
                if conversation.id == self._current_id:
                    self.list.setCurrentItem(item)
        finally:
            self._updating = False
        if not entries:
            self.empty_label.setText(
                translate("conversation_list", NO_MATCH_TEXT).format(query=query)
                if query
                else translate("conversation_list", EMPTY_TEXT)
            )
        self.empty_label.setVisible(not entries)
        self.list.setVisible(bool(entries))

    def _item(self, conversation_id: int) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == conversation_id:
                return item
        return None

    def _title(self, conversation_id: int) -> str:
        conversation = self.store.get_conversation(conversation_id) if self.store else None
        if conversation is None:
            conversation = next((c for c in self._all if c.id == conversation_id), None)
        return (conversation.title if conversation else "") or translate("conversation_list", "New chat")

    def _on_current(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None and not self._updating:
            self._current_id = int(item.data(ID_ROLE))
            self.conversationSelected.emit(self._current_id)

    def _open_first(self) -> None:
        item = self.list.currentItem() or self.list.item(0)
        if item is None:
            return
        if item is not self.list.currentItem():
            self.list.setCurrentItem(item)  # emits conversationSelected
        else:
            self.conversationSelected.emit(int(item.data(ID_ROLE)))
        self.list.setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
                self._render()
                return True
            if event.key() == Qt.Key.Key_Down and self.list.count():
                self.list.setFocus()
                return True
        return super().eventFilter(watched, event)

    # ---- the menu ------------------------------------------------------------------------
    def build_menu(self, conversation_id: int) -> QMenu:
        """The context menu of one conversation (actions have object names for tests)."""
        menu = QMenu(self)
        entries = (
            (
                "renameAction",
                translate("conversation_list", "Rename"),
                lambda: self.begin_rename(conversation_id),
            ),
            (
                "exportMarkdownAction",
                translate("conversation_list", "Export as Markdown…"),
                lambda: self.export_conversation(conversation_id, "markdown"),
            ),
            (
                "exportJsonAction",
                translate("conversation_list", "Export as JSON…"),
                lambda: self.export_conversation(conversation_id, "json"),
            ),
            (None, "", None),
            (
                "deleteAction",
                translate("conversation_list", "Delete"),
                lambda: self.delete_conversation(conversation_id),
            ),
        )
        for name, text, slot in entries:
            if name is None or slot is None:
                menu.addSeparator()
                continue
            action = menu.addAction(text)
            action.setObjectName(name)
            action.triggered.connect(slot)
            action.setEnabled(self.store is not None)
        return menu

    def _show_context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        menu = self.build_menu(int(item.data(ID_ROLE)))
        menu.exec(self.list.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def _current_conversation(self) -> int | None:
        item = self.list.currentItem()
        return int(item.data(ID_ROLE)) if item is not None else None

    def _rename_current(self) -> None:
        conversation_id = self._current_conversation()
        if conversation_id is not None:
            self.begin_rename(conversation_id)

    def _delete_current(self) -> None:
        conversation_id = self._current_conversation()
        if conversation_id is not None:
            self.delete_conversation(conversation_id)

    # ---- rename --------------------------------------------------------------------------
    def begin_rename(self, conversation_id: int) -> None:
        """Edit the title in place: Enter keeps it, Escape leaves it as it was."""
        item = self._item(conversation_id)
        if item is None or self.store is None:
            return
        self._updating = True
        item.setText(item.data(TITLE_ROLE) or "")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self._updating = False
        self._renaming_id = conversation_id
        self.list.scrollToItem(item)
        self.list.editItem(item)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._updating or self._renaming_id is None:
            return
        if item.data(ID_ROLE) == self._renaming_id:
            conversation_id, text = self._renaming_id, item.text()
            # Later: the item may not be rebuilt while the view is still inside its setData.
            QTimer.singleShot(0, lambda: self.rename_conversation(conversation_id, text))

    def _on_editor_closed(self, _editor: QWidget, _hint: QAbstractItemDelegate.EndEditHint) -> None:
        if self._renaming_id is None:
            return
        self._renaming_id = None
        QTimer.singleShot(0, self._render)  # drop the editable flag, restore snippets

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        """Rename; blank titles are refused. The list keeps its order (no "activity")."""
        title = " ".join(title.split())
        if self.store is None or not title:
            self._render()
            return
        current = self.store.get_conversation(conversation_id)
        if current is None or current.title == title:
            self._render()
            return
        self.store.update_conversation(conversation_id, title=title, touch=False)
        for conversation in self._all:
            if conversation.id == conversation_id:
                conversation.title = title
        self._render()
        self.conversationsChanged.emit()

    # ---- delete and undo -----------------------------------------------------------------
    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete now; "Undo" brings it back for a few seconds, then it is purged."""
        if self.store is None:
            return
        if self._pending_delete is not None:
            self.finish_pending_delete()
        title = self._title(conversation_id)
        self.store.delete_conversation(conversation_id)
        self._pending_delete = conversation_id
        shown = title if len(title) <= 40 else title[:39] + "…"
        self.undo_label.setText(translate("conversation_list", "Deleted “{title}”").format(title=shown))
        self.undo_label.setToolTip(title)
        self.undo_strip.show()
        self._undo_timer.start(self.undo_ms)
        self._all = [c for c in self._all if c.id != conversation_id]
        if self._current_id == conversation_id:
            self._current_id = None
        self._render()
        self.conversationDeleted.emit(conversation_id)
        self.conversationsChanged.emit()

    def undo_delete(self) -> None:
        conversation_id = self._pending_delete
        self._undo_timer.stop()
        self.undo_strip.hide()
        self._pending_delete = None
        if conversation_id is None or self.store is None:
            return
        self.store.restore_conversation(conversation_id)
        self._reload()
        self.conversationsChanged.emit()

    def finish_pending_delete(self) -> None:
        """The undo time is over (or the window closes): remove the conversation for good."""
        self._undo_timer.stop()
        self.undo_strip.hide()
        conversation_id, self._pending_delete = self._pending_delete, None
        if conversation_id is not None and self.store is not None:
            self.store.purge_deleted(0.0, conversation_id=conversation_id)

    # ---- export and import ---------------------------------------------------------------
    def show_notice(self, text: str, level: str = "info") -> None:
        self.notice_label.setText(text)
        self.notice_label.setProperty("level", level)
        self.notice_label.style().unpolish(self.notice_label)
        self.notice_label.style().polish(self.notice_label)
        self.notice_label.show()
        self._notice_timer.start(NOTICE_MS if level == "info" else NOTICE_MS * 2)

    def _start_dir(self) -> Path:
        return Path(self._last_dir) if self._last_dir else Path.home()

    def export_conversation(self, conversation_id: int, kind: str) -> Path | None:
        """Ask where, then write the Markdown or JSON export; returns the file written."""
        if self.store is None:
            return None
        conversation = self.store.get_conversation(conversation_id)
        if conversation is None:
            return None
        if kind == "markdown":
            suffix = ".md"
            name_filter = translate("conversation_list", "Markdown (*.md)")
            caption = translate("conversation_list", "Export as Markdown")
        elif kind == "json":
            suffix = ".json"
            name_filter = translate("conversation_list", "Enclave conversation (*.json)")
            caption = translate("conversation_list", "Export as JSON")
        else:
            raise ValueError(f"unknown export kind {kind!r}")
        start = self._start_dir() / suggested_filename(conversation, suffix)
        chosen, _ = QFileDialog.getSaveFileName(self, caption, str(start), name_filter)
        if not chosen:
            return None
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(suffix)
        if kind == "markdown":
            text = export_markdown(self.store, conversation_id)
        else:
            text = json.dumps(export_json(self.store, conversation_id), ensure_ascii=False, indent=2)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            log.warning("export failed: %s", type(exc).__name__)
            self.show_notice(
                translate("conversation_list", "Could not save {file}: {reason}").format(
                    file=path.name, reason=exc.strerror or exc
                ),
                "error",
            )
            return None
        self._last_dir = str(path.parent)
        self.show_notice(translate("conversation_list", "Saved “{file}”").format(file=path.name))
        self.statusMessage.emit(translate("conversation_list", "Saved {path}").format(path=path))
        return path

    def import_conversation(self) -> Conversation | None:
        """Ask for a JSON file exported by Enclave and add it as a new conversation."""
        if self.store is None:
            return None
        chosen, _ = QFileDialog.getOpenFileName(
            self,
            translate("conversation_list", "Import a conversation"),
            str(self._start_dir()),
            translate("conversation_list", "Enclave conversation (*.json);;All files (*)"),
        )
        if not chosen:
            return None
        path = Path(chosen)
        try:
            conversation = import_json_file(self.store, path)
        except ValueError as exc:
            self.show_notice(str(exc), "error")
            return None
        self._last_dir = str(path.parent)
        if self.search.text():
            self.search.clear()
        self._current_id = conversation.id
        self._reload()
        self.show_notice(
            translate("conversation_list", "Imported “{title}”").format(title=conversation.title)
        )
        self.conversationSelected.emit(conversation.id)
        self.conversationsChanged.emit()
        return conversation
