"""Links in answers: the browser opens only after the user saw the full address and said yes.

A real window, a real answer rendered from Markdown, a real mouse click on the link; only the
browser itself is replaced (QDesktopServices.openUrl records what it was asked to open).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from app.core.chat.store import ChatStore
from app.ui.link_confirm import LinkConfirm

ADDRESS = "https://example.com/docs/page?lang=en&x=1#part-2"
LOOKALIKE = "https://exаmple.com/login"  # the second "a" is Cyrillic


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def record(url: QUrl) -> bool:
        calls.append(url.toString(QUrl.ComponentFormattingOption.FullyEncoded))
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(record))
    return calls


def _window_with_answer(make_window: Any, tmp_path: Path, answer: str) -> Any:
    store = ChatStore(tmp_path / "enclave.db")
    conversation = store.create_conversation("links")
    store.add_message(conversation.id, "user", "Where are the docs?")
    store.add_message(conversation.id, "assistant", answer)
    store.close()
    return make_window()


def _click_link(qtbot: Any, window: Any, text: str) -> LinkConfirm | None:
    qtbot.waitUntil(lambda: len(window.chat_view.widgets) == 2, timeout=5_000)
    body = window.chat_view.widgets[1].body
    qtbot.waitUntil(body.isVisible, timeout=5_000)
    window.chat_view.ensureWidgetVisible(body)
    cursor = body.document().find(text)
    assert not cursor.isNull(), text
    rect = body.cursorRect(cursor)
    spot = QPoint(rect.left() - 4, rect.center().y())  # inside the link's text
    assert body.anchorAt(spot), "the click lands on the link"
    qtbot.mouseClick(body.viewport(), Qt.MouseButton.LeftButton, pos=spot)
    qtbot.wait(50)
    dialog: LinkConfirm | None = window.chat.link_dialog
    return dialog


def test_cancel_opens_nothing_and_confirm_opens_exactly_the_address(
    qtbot: Any, make_window: Any, tmp_path: Path, opened: list[str]
) -> None:
    window = _window_with_answer(make_window, tmp_path, f"See [the docs]({ADDRESS}) for more.")
    dialog = _click_link(qtbot, window, "docs")
    assert isinstance(dialog, LinkConfirm) and dialog.isVisible()
    assert ADDRESS in dialog.informativeText()  # the full address, query and fragment too
    assert opened == []  # asking is not opening
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert opened == []

    dialog = _click_link(qtbot, window, "docs")
    assert isinstance(dialog, LinkConfirm) and dialog.isVisible()
    qtbot.keyClick(dialog, Qt.Key.Key_Return)  # Enter is Cancel: opening takes a choice
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert opened == []

    dialog = _click_link(qtbot, window, "docs")
    assert isinstance(dialog, LinkConfirm)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert opened == [ADDRESS]


def test_a_lookalike_address_is_shown_as_it_really_is(
    qtbot: Any, make_window: Any, tmp_path: Path, opened: list[str]
) -> None:
    window = _window_with_answer(make_window, tmp_path, f"Sign in [here]({LOOKALIKE}).")
    dialog = _click_link(qtbot, window, "here")
    assert isinstance(dialog, LinkConfirm)
    shown = dialog.informativeText()
    assert "xn--" in shown and "exаmple" not in shown  # punycode: the look-alike is visible
    dialog.reject()
    QApplication.processEvents()
    assert opened == []


def test_a_file_link_in_an_answer_is_not_opened(
    qtbot: Any, make_window: Any, tmp_path: Path, opened: list[str]
) -> None:
    """The renderer makes no link of it (markdown-it refuses file: links), and should one reach
    the chat anyway, nothing opens and nothing is asked."""
    window = _window_with_answer(make_window, tmp_path, "Open [this](file:///etc/passwd).")
    qtbot.waitUntil(lambda: len(window.chat_view.widgets) == 2, timeout=5_000)
    answer = window.chat_view.widgets[1]
    assert "href=\"file:" not in answer.body.toHtml()
    window.chat_view.linkActivated.emit(answer.message, QUrl("file:///etc/passwd"))
    qtbot.wait(100)
    assert window.chat.link_dialog is None and opened == []
