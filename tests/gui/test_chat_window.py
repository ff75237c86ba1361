"""The first window driven like a user would, with the real engine and the real model."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.core.chat.store import STATUS_CANCELLED, STATUS_COMPLETE, STATUS_INTERRUPTED, ChatStore
from app.core.engine import protocol as p
from app.ui.main_window import MainWindow
from tests.gui.events import wait_event

LOAD_TIMEOUT_MS = 60_000


def open_and_load(qtbot, window: MainWindow, model: Path) -> None:  # type: ignore[no-untyped-def]
    progress: list[float] = []
    window.service.loading.connect(progress.append)
    with wait_event(qtbot, window.service.loaded, timeout=LOAD_TIMEOUT_MS):
        window.open_model(model)
        assert window.model_bar.progress.isVisible()
        assert window.model_bar.cancel_button.isVisible()
    assert progress and max(progress) == pytest.approx(1.0)
    assert not window.model_bar.progress.isVisible()


def ask(qtbot, window: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    window.composer.edit.setPlainText(text)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)


def short_answers(window: MainWindow, max_tokens: int) -> None:
    window.session.base_sampling = p.SamplingParams(max_tokens=max_tokens, seed=1)


def test_empty_state_tells_what_to_do(make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    assert "Enclave needs a model" in window.chat_view.empty_label.text()
    assert window.chat_view.start_button.isVisible()  # the newcomer's one click
    assert window.chat_view.empty_label.isVisible()
    assert not window.composer.send_button.isEnabled()


def test_open_load_chat_and_stats_then_restart_keeps_it(qtbot, make_window, chat_model_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    open_and_load(qtbot, window, chat_model_path)
    assert window.model_bar.details_button.isEnabled()
    assert "CPU" in window.model_bar.plan_label.text()
    assert window.model_bar.facts_panel.rows["Architecture"].text() == "gemma3"
    short_answers(window, 24)
    streamed: list[str] = []
    window.session.answer_tokens.connect(lambda _message, text: streamed.append(text))
    with wait_event(qtbot, window.session.answer_finished, timeout=60_000):
        ask(qtbot, window, "What is the capital of France?")
        assert window.composer.send_button.text() == "Stop"
    assert len(streamed) > 1  # it streamed in batches
    answer = window.chat_view.widgets[-1]
    assert answer.text == "".join(streamed)
    footer = answer.footer.text()  # plain words first, the figures one hover away
    assert "words a second" in footer and "first word after" in footer and "token" not in footer
    figures = answer.footer.toolTip()
    assert "24 tokens" in figures and "tokens/s" in figures and "first token" in figures
    assert window.composer.send_button.text() == "Send"
    assert window.sidebar.list.count() == 1
    assert window.sidebar.list.item(0).text() == "What is the capital of France?"
    conversation_id = window.session.conversation_id
    window.close()

    again = make_window()  # a restart: same database
    qtbot.waitUntil(lambda: again.session.conversation_id == conversation_id, timeout=5_000)
    roles = [w.message.role for w in again.chat_view.widgets]
    assert roles == ["user", "assistant"]
    assert again.chat_view.widgets[1].text == answer.text
    assert "24 tokens" in again.chat_view.widgets[1].footer.toolTip()


def test_stop_with_escape_and_button(qtbot, make_window, chat_model_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    open_and_load(qtbot, window, chat_model_path)
    for how in ("escape", "button"):
        with wait_event(qtbot, window.session.answer_tokens, timeout=30_000):
            ask(qtbot, window, "Tell me a very long story.")
        clicked = time.perf_counter()
        with wait_event(qtbot, window.session.answer_finished, timeout=5_000):
            if how == "escape":
                qtbot.keyClick(window, Qt.Key.Key_Escape)
            else:
                qtbot.mouseClick(window.composer.send_button, Qt.MouseButton.LeftButton)
        assert time.perf_counter() - clicked < 0.5
        last = window.chat_view.widgets[-1]
        assert last.message.status == STATUS_CANCELLED
        assert "Stopped." in last.footer.text()
        saved = window.store.messages(window.session.conversation_id)[-1]
        assert saved.status == STATUS_CANCELLED and saved.content == last.text


def test_engine_killed_mid_answer_keeps_conversation_and_reloads(
    qtbot, make_window, chat_model_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    open_and_load(qtbot, window, chat_model_path)
    with wait_event(qtbot, window.session.answer_tokens, timeout=30_000):
        ask(qtbot, window, "Tell me a very long story.")
    qtbot.wait(300)
    pid = window.service.local.host_pid
    assert pid
    with wait_event(qtbot, window.session.answer_failed, timeout=10_000):
        os.kill(pid, signal.SIGKILL)
    assert window.notice.isVisible()
    assert "SIGKILL" in window.notice.text and "conversation is safe" in window.notice.text
    assert "Reload model" in window.notice.action_titles()
    last = window.chat_view.widgets[-1]
    assert last.message.status == STATUS_INTERRUPTED and last.text
    saved = window.store.messages(window.session.conversation_id)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[-1].status == STATUS_INTERRUPTED and saved[-1].content == last.text
    assert not window.composer.send_button.isEnabled()

    with wait_event(qtbot, window.service.loaded, timeout=LOAD_TIMEOUT_MS):
        window.notice.trigger("Reload model")
    short_answers(window, 6)
    with wait_event(qtbot, window.session.answer_finished, timeout=60_000):
        ask(qtbot, window, "And then?")
    assert window.chat_view.widgets[-1].message.status == STATUS_COMPLETE
    assert len(window.store.messages(window.session.conversation_id)) == 4


def test_dropping_a_gguf_opens_it(qtbot, make_window, chat_model_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(chat_model_path))])
    event = QDropEvent(
        QPoint(50, 50).toPointF(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with wait_event(qtbot, window.service.loaded, timeout=LOAD_TIMEOUT_MS):
        window.dropEvent(event)
    assert window.model_bar.name_label.text()
    assert window.composer.send_button.isEnabled()


def test_a_bad_file_shows_a_plain_message(qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"\x00" * 4096)
    window.open_model(bad)
    qtbot.waitUntil(window.notice.isVisible, timeout=10_000)
    assert "not a GGUF" in window.notice.text
    assert not window.model_bar.progress.isVisible()
    assert not window.composer.send_button.isEnabled()


def test_a_partial_answer_left_streaming_is_marked_interrupted_on_open(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "db.sqlite")
    conversation = store.create_conversation("t")
    store.add_message(conversation.id, "user", "q")
    store.add_message(conversation.id, "assistant", "half an ans", status="streaming")
    store.close()
    reopened = ChatStore(tmp_path / "db.sqlite")
    assert reopened.messages(conversation.id)[-1].status == STATUS_INTERRUPTED
    assert reopened.integrity_ok()
