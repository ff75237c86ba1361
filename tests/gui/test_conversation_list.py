"""The sidebar driven like a user would: search, rename, delete and undo, export, import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QLineEdit

from app.core.chat.store import ChatStore
from app.ui.conversation_list import EMPTY_TEXT, ConversationList


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    return ChatStore(tmp_path / "enclave.db")


@pytest.fixture
def sidebar(qtbot: Any, store: ChatStore) -> ConversationList:
    widget = ConversationList(store=store)
    qtbot.addWidget(widget)
    widget.resize(280, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def fill(store: ChatStore) -> dict[str, int]:
    france = store.create_conversation("Trip to France")
    store.add_message(france.id, "user", "What is the capital of France?")
    store.add_message(france.id, "assistant", "The capital of France is Paris.")
    pasta = store.create_conversation("Cooking pasta")
    store.add_message(pasta.id, "user", "How long do I boil spaghetti?")
    store.add_message(pasta.id, "assistant", "About ten minutes.")
    return {"france": france.id, "pasta": pasta.id}


def refresh(sidebar: ConversationList, store: ChatStore, current: int | None = None) -> None:
    """What the window does on conversationsChanged."""
    sidebar.set_conversations(store.list_conversations(), current)


def titles(sidebar: ConversationList) -> list[str]:
    return [sidebar.list.item(i).text() for i in range(sidebar.list.count())]


def action(sidebar: ConversationList, conversation_id: int, name: str) -> QAction:
    found = sidebar.build_menu(conversation_id).findChild(QAction, name)
    assert isinstance(found, QAction), name
    return found


def test_empty_state_then_the_list_newest_first(
    qtbot: Any, sidebar: ConversationList, store: ChatStore
) -> None:
    refresh(sidebar, store)
    assert sidebar.empty_label.isVisible() and sidebar.empty_label.text() == EMPTY_TEXT
    assert not sidebar.list.isVisible()
    ids = fill(store)
    refresh(sidebar, store, ids["france"])
    assert not sidebar.empty_label.isVisible()
    assert titles(sidebar) == ["Cooking pasta", "Trip to France"]
    assert sidebar.list.currentItem().text() == "Trip to France"
    with qtbot.waitSignal(sidebar.conversationSelected) as selected:
        sidebar.list.setCurrentRow(0)
    assert selected.args == [ids["pasta"]]
    with qtbot.waitSignal(sidebar.newChatRequested):
        qtbot.mouseClick(sidebar.new_button, Qt.MouseButton.LeftButton)


def test_search_filters_by_prefix_and_keeps_its_filter_on_refresh(
    qtbot: Any, sidebar: ConversationList, store: ChatStore
) -> None:
    ids = fill(store)
    refresh(sidebar, store)
    sidebar.focus_search()
    qtbot.waitUntil(sidebar.search.hasFocus)
    qtbot.keyClicks(sidebar.search, "capi")
    qtbot.waitUntil(lambda: sidebar.list.count() == 1)
    first = titles(sidebar)[0]
    assert first.startswith("Trip to France\n") and "capital" in first
    refresh(sidebar, store, ids["france"])  # the window refreshing mid-search
    assert sidebar.list.count() == 1
    sidebar.search.setText("cook")  # a title
    qtbot.waitUntil(lambda: titles(sidebar) == ["Cooking pasta"])
    with qtbot.waitSignal(sidebar.conversationSelected) as selected:
        qtbot.keyClick(sidebar.search, Qt.Key.Key_Return)  # opens the first hit
    assert selected.args == [ids["pasta"]]
    sidebar.search.setText('"unbalanced (NOT')
    qtbot.waitUntil(lambda: sidebar.empty_label.isVisible())
    assert "No conversations match" in sidebar.empty_label.text()
    sidebar.search.setFocus()
    qtbot.keyClick(sidebar.search, Qt.Key.Key_Escape)  # clears the search
    assert sidebar.search.text() == ""
    qtbot.waitUntil(lambda: sidebar.list.count() == 2)


def test_rename_inline_keeps_the_order(
    qtbot: Any, sidebar: ConversationList, store: ChatStore
) -> None:
    ids = fill(store)
    refresh(sidebar, store)
    with qtbot.waitSignal(sidebar.conversationsChanged):
        action(sidebar, ids["france"], "renameAction").trigger()
        editor = sidebar.list.viewport().findChild(QLineEdit)
        assert editor is not None and editor.text() == "Trip to France"
        editor.selectAll()
        qtbot.keyClicks(editor, "Paris questions")
        qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert store.get_conversation(ids["france"]).title == "Paris questions"  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: titles(sidebar) == ["Cooking pasta", "Paris questions"])
    assert [c.title for c in store.list_conversations()] == ["Cooking pasta", "Paris questions"]

    # Escape leaves the title alone; a blank title is refused.
    sidebar.begin_rename(ids["pasta"])
    editor = sidebar.list.viewport().findChild(QLineEdit)
    assert editor is not None
    editor.selectAll()
    qtbot.keyClicks(editor, "nope")
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    qtbot.wait(20)
    sidebar.rename_conversation(ids["pasta"], "   ")
    assert store.get_conversation(ids["pasta"]).title == "Cooking pasta"  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: titles(sidebar) == ["Cooking pasta", "Paris questions"])


def test_delete_then_undo_then_delete_for_good(
    qtbot: Any, sidebar: ConversationList, store: ChatStore
) -> None:
    ids = fill(store)
    refresh(sidebar, store, ids["france"])
    deleted: list[int] = []
    sidebar.conversationDeleted.connect(deleted.append)
    with qtbot.waitSignal(sidebar.conversationsChanged):
        action(sidebar, ids["france"], "deleteAction").trigger()
    assert deleted == [ids["france"]]
    assert titles(sidebar) == ["Cooking pasta"]
    assert [c.id for c in store.list_conversations()] == [ids["pasta"]]
    assert sidebar.undo_strip.isVisible()
    assert sidebar.undo_label.text() == "Deleted “Trip to France”"
    refresh(sidebar, store)  # the window refreshes; the deleted one stays away
    assert titles(sidebar) == ["Cooking pasta"]

    with qtbot.waitSignal(sidebar.conversationsChanged):
        qtbot.mouseClick(sidebar.undo_button, Qt.MouseButton.LeftButton)
    assert not sidebar.undo_strip.isVisible()
    assert set(titles(sidebar)) == {"Cooking pasta", "Trip to France"}
    assert len(store.messages(ids["france"])) == 2

    sidebar.undo_ms = 100  # the strip goes away, and with it the conversation
    sidebar.delete_conversation(ids["france"])
    assert sidebar.undo_strip.isVisible()
    qtbot.waitUntil(lambda: not sidebar.undo_strip.isVisible(), timeout=3000)
    assert store.get_conversation(ids["france"]) is None


def test_deleting_a_second_one_finishes_the_first(
    qtbot: Any, sidebar: ConversationList, store: ChatStore
) -> None:
    ids = fill(store)
    refresh(sidebar, store)
    sidebar.delete_conversation(ids["france"])
    sidebar.delete_conversation(ids["pasta"])
    assert store.get_conversation(ids["france"]) is None  # purged
    assert sidebar.undo_label.text() == "Deleted “Cooking pasta”"
    sidebar.undo_delete()
    assert titles(sidebar) == ["Cooking pasta"]
    assert sidebar.empty_label.isHidden()


def test_export_markdown_and_json(
    qtbot: Any, sidebar: ConversationList, store: ChatStore, tmp_path: Path, monkeypatch: Any
) -> None:
    ids = fill(store)
    refresh(sidebar, store)
    asked: list[str] = []

    def save_as(_parent: Any, _caption: str, start: str, _filter: str) -> tuple[str, str]:
        asked.append(start)
        return str(tmp_path / Path(start).stem), _filter  # no suffix typed: it is added

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    action(sidebar, ids["france"], "exportMarkdownAction").trigger()
    markdown = tmp_path / "Trip to France.md"
    assert asked[-1].endswith("Trip to France.md")
    text = markdown.read_text(encoding="utf-8")
    assert text.startswith("# Trip to France") and "The capital of France is Paris." in text
    assert sidebar.notice_label.isVisible() and "Saved" in sidebar.notice_label.text()

    action(sidebar, ids["france"], "exportJsonAction").trigger()
    data = json.loads((tmp_path / "Trip to France.json").read_text(encoding="utf-8"))
    assert data["format"] == "enclave-conversation" and len(data["messages"]) == 2

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: ("", ""))  # cancelled
    assert sidebar.export_conversation(ids["france"], "markdown") is None


def test_import_adds_and_opens_a_conversation(
    qtbot: Any, sidebar: ConversationList, store: ChatStore, tmp_path: Path, monkeypatch: Any
) -> None:
    ids = fill(store)
    refresh(sidebar, store)
    exported = tmp_path / "saved.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(exported), ""))
    sidebar.export_conversation(ids["pasta"], "json")

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (str(exported), ""))
    selected: list[int] = []
    sidebar.conversationSelected.connect(selected.append)
    with qtbot.waitSignal(sidebar.conversationsChanged):
        qtbot.mouseClick(sidebar.import_button, Qt.MouseButton.LeftButton)
    assert len(selected) == 1
    new_id = selected[0]
    assert new_id not in ids.values()
    assert len(store.list_conversations()) == 3
    assert sidebar.list.currentItem().data(Qt.ItemDataRole.UserRole) == new_id
    assert [m.content for m in store.messages(new_id)] == [
        "How long do I boil spaghetti?",
        "About ten minutes.",
    ]

    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}', encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (str(bad), ""))
    assert sidebar.import_conversation() is None
    assert sidebar.notice_label.isVisible()
    assert "not an Enclave conversation" in sidebar.notice_label.text()
    assert len(store.list_conversations()) == 3


def test_without_a_store_it_still_lists_and_filters_titles(qtbot: Any, store: ChatStore) -> None:
    widget = ConversationList()
    qtbot.addWidget(widget)
    fill(store)
    widget.set_conversations(store.list_conversations(), None)
    assert widget.list.count() == 2
    widget.search.setText("past")
    qtbot.waitUntil(lambda: widget.list.count() == 1)
    widget.set_store(store)
    assert widget.list.count() == 1
