"""The whole main flow by keyboard alone, with a visible focus (issue 13, part 5): open a model
from the Library, ask, stop an answer while it streams, edit the question and send it again,
pick a documents collection for the chat, and start a download from Discover.

Every action is a key press on the widget that has the focus (QApplication.focusWidget()), or on
the menu a key opened; nothing is clicked and no window method performs an action. Setup (the
model file in the Library, a collection, the fake hub's files) goes through core APIs. At each
step the focused control is on screen and the app's look (Fusion and resources/style.qss) draws
a focus ring around it: its edge changes colour, at least 3:1 against what was there (WCAG
2.4.7 and 1.4.11)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from app.core.chat.store import STATUS_CANCELLED
from app.core.engine import protocol as p
from app.ui.accessibility import contrast_ratio
from tests.fakehub import FakeHub
from tests.gui import conftest_models
from tests.gui.events import wait_event

fake_hub = conftest_models.fake_hub
memory_keyring = conftest_models.memory_keyring

LOAD_TIMEOUT_MS = 60_000
ANSWER_TIMEOUT_MS = 90_000
NON_TEXT_CONTRAST = 3.0  # WCAG 1.4.11: a focus indicator against what it sits on
RING_PX = 3  # the focus ring is drawn within this many pixels of the control's edge
Key = Qt.Key
Ctrl = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def app_look(qapp: QApplication) -> Iterator[QApplication]:
    """The app's own look (Fusion and resources/style.qss), put back after."""
    from app.ui.theme import apply_theme

    app = qapp
    sheet, palette, style = app.styleSheet(), app.palette(), app.style().name()
    apply_theme("light", app)
    yield app
    if style:
        app.setStyle(style)
    app.setPalette(palette)
    app.setStyleSheet(sheet)


# ---- the keyboard ---------------------------------------------------------------------------
def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def press(qtbot: Any, key: Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(focused(), key, modifier)
    settle(qtbot)


def type_text(qtbot: Any, text: str) -> None:
    qtbot.keyClicks(focused(), text)
    settle(qtbot)


def settle(qtbot: Any) -> None:
    """Let the window react (a page built on first show puts its controls on screen a moment
    later): nobody types faster than the event loop."""
    qtbot.wait(20)


def _name(widget: QWidget) -> str:
    text = getattr(widget, "text", None)
    shown = text() if callable(text) and isinstance(text(), str) else ""
    return f"{type(widget).__name__}#{widget.objectName()}({shown[:20]!r})"


def tab_to(qtbot: Any, wanted: Callable[[QWidget], bool], *, back: bool = False, limit: int = 150) -> QWidget:
    """Press Tab (Shift+Tab with back) until the focused widget is the wanted one."""
    path: list[str] = []
    for _ in range(limit):
        widget = focused()
        if wanted(widget):
            return widget
        path.append(_name(widget))
        modifier = Qt.KeyboardModifier.ShiftModifier if back else Qt.KeyboardModifier.NoModifier
        qtbot.keyClick(widget, Key.Key_Tab, modifier)
        settle(qtbot)
    raise AssertionError("Tab never reached it; it went through " + " → ".join(path))


def named(object_name: str) -> Callable[[QWidget], bool]:
    return lambda widget: widget.objectName() == object_name


def is_(target: QWidget) -> Callable[[QWidget], bool]:
    return lambda widget: widget is target


# ---- the visible focus ----------------------------------------------------------------------
def _ring(image: QImage) -> Iterator[tuple[int, int]]:
    width, height = image.width(), image.height()
    for y in range(height):
        for x in range(width):
            if min(x, y, width - 1 - x, height - 1 - y) < RING_PX:
                yield x, y


def assert_focus_visible(qtbot: Any, widget: QWidget | None = None) -> None:
    """The focused control is on screen and drawn with a focus ring: around its edge, pixels
    change with focus, by at least 3:1, along at least half its outline."""
    widget = widget or focused()
    assert widget.hasFocus(), _name(widget)
    assert widget.isVisible() and not widget.visibleRegion().isEmpty(), f"{_name(widget)} is not on screen"
    ratio = widget.devicePixelRatioF()
    with_focus = widget.grab().toImage()
    widget.clearFocus()
    without = widget.grab().toImage()
    widget.setFocus(Qt.FocusReason.TabFocusReason)  # back where the keyboard put it
    qtbot.waitUntil(widget.hasFocus, timeout=2_000)
    changed = sum(
        1
        for x, y in _ring(with_focus)
        if contrast_ratio(QColor(with_focus.pixel(x, y)), QColor(without.pixel(x, y))) >= NON_TEXT_CONTRAST
    )
    outline = 2 * (with_focus.width() + with_focus.height()) / ratio
    assert changed >= outline / 2, (
        f"{_name(widget)}: a focus ring of {changed} px for an outline of {outline}"
    )


def test_the_style_sheet_has_a_focus_ring_for_every_kind_of_control_and_it_contrasts(
    app_look: QApplication,
) -> None:
    from app.core import paths
    from app.ui.theme import dark_palette, light_palette

    sheet = re.sub(
        r"/\*.*?\*/", "", (paths.resources_dir() / "style.qss").read_text(encoding="utf-8"), flags=re.S
    )
    focus_rules = re.findall(r"([^{}]*:focus[^{}]*)\{([^}]*)\}", sheet)
    selectors = " ".join(s for s, _body in focus_rules)
    for kind in ("QPushButton:focus", "QToolButton:focus", "QLineEdit:focus", "QPlainTextEdit:focus",
                 "QTreeView:focus", "QListView:focus"):  # fmt: skip
        assert kind in selectors, kind
    # A rule for a control whose border the sheet takes over (border: none, or its own border)
    # replaces Fusion's focus frame: each such control has its own :focus rule.
    controls = re.compile(r"^Q(PushButton|ToolButton|LineEdit|PlainTextEdit|TreeWidget|ListWidget)#\w+$")
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", sheet):
        for one in selector.split(","):
            one = one.strip()
            if "border:" in body and controls.match(one):
                assert f"{one}:focus" in selectors, f"{one} sets its border but has no :focus rule"
    for palette in (light_palette(app_look.style().standardPalette()), dark_palette()):
        ring = palette.color(QPalette.ColorRole.Link)
        for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base, QPalette.ColorRole.Button,
                     QPalette.ColorRole.Mid):  # fmt: skip
            assert contrast_ratio(ring, palette.color(role)) >= NON_TEXT_CONTRAST, role
        on_filled = palette.color(QPalette.ColorRole.HighlightedText)
        assert contrast_ratio(on_filled, palette.color(QPalette.ColorRole.Highlight)) >= NON_TEXT_CONTRAST
    for _selector, body in focus_rules:  # the ring is in one of the two colours checked above
        for colour in re.findall(r"border(?:-color)?:[^;]*?(palette\([\w-]+\)|#[0-9a-fA-F]{3,6})", body):
            assert colour in ("palette(link)", "palette(highlighted-text)"), body


# ---- the flow -------------------------------------------------------------------------------
def _stream_until_some_words(qtbot: Any, window: Any) -> None:
    qtbot.waitUntil(
        lambda: (
            window.session.busy
            and bool(window.chat_view.widgets)
            and window.chat_view.widgets[-1].message.role == "assistant"
            and len(window.chat_view.widgets[-1].text) > 0
        ),
        timeout=ANSWER_TIMEOUT_MS,
    )


def test_the_main_chat_flow_works_by_keyboard_alone(
    qtbot: Any, make_window: Any, instruct_model_path: Path, tmp_path: Path, app_look: QApplication
) -> None:
    from app.core.documents.index import DocumentIndex
    from app.core.library import add_model_file
    from app.core.settings import Settings, save_settings

    save_settings(Settings(scan_other_apps=False))
    add_model_file(instruct_model_path)  # the model is in the Library, as if added earlier
    docs = tmp_path / "handbook"
    docs.mkdir()
    (docs / "rules.txt").write_text("The office opens at 8:30.", encoding="utf-8")
    with DocumentIndex() as index:
        index.create_collection("Handbook", [docs])

    window = make_window()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)

    # 1. Open the model from the Library: Ctrl+3, Tab to the list, Down to the model, Enter.
    press(qtbot, Key.Key_3, Ctrl)
    assert window.current_page() == "library"
    library = window.models_area.library
    qtbot.waitUntil(lambda: library.tree.topLevelItemCount() == 1, timeout=10_000)
    tab_to(qtbot, is_(library.tree))
    assert_focus_visible(qtbot)
    press(qtbot, Key.Key_Down)
    press(qtbot, Key.Key_Up)  # the first (only) model is the current one
    assert library.selected() is not None and library.selected().path == instruct_model_path
    with wait_event(qtbot, window.service.loaded, timeout=LOAD_TIMEOUT_MS):
        press(qtbot, Key.Key_Return)
        assert window.current_page() == "chat"
    assert window.model_path == instruct_model_path
    qtbot.waitUntil(window.composer.send_button.isEnabled, timeout=5_000)

    # 2. Ask: Tab to the question box, type, Enter.
    window.session.base_sampling = p.SamplingParams(max_tokens=8, seed=1)
    edit = window.composer.edit
    tab_to(qtbot, is_(edit))
    assert_focus_visible(qtbot)
    type_text(qtbot, "What is the capital of France?")
    with wait_event(qtbot, window.session.answer_finished, timeout=ANSWER_TIMEOUT_MS):
        press(qtbot, Key.Key_Return)
    question, answer = window.chat_view.widgets[-2:]
    assert question.message.role == "user" and question.text == "What is the capital of France?"
    assert answer.message.role == "assistant" and answer.text.strip()
    assert edit.hasFocus() and not edit.toPlainText()  # the box is ready for the next question

    # 3. Stop an answer while it streams: Esc (the Stop button's tooltip says so).
    window.session.base_sampling = p.SamplingParams(max_tokens=400, seed=1)
    type_text(qtbot, "Write a long story about a lighthouse keeper.")
    press(qtbot, Key.Key_Return)
    _stream_until_some_words(qtbot, window)
    assert window.composer.send_button.text() == "Stop" and "Esc" in window.composer.send_button.toolTip()
    with wait_event(qtbot, window.session.answer_finished, timeout=ANSWER_TIMEOUT_MS):
        press(qtbot, Key.Key_Escape)
    stopped = window.chat_view.widgets[-1]
    assert stopped.message.status == STATUS_CANCELLED and "Stopped." in stopped.footer.text()
    assert not window.session.busy and window.composer.send_button.text() == "Send"
    qtbot.waitUntil(
        lambda: window.store.get_message(stopped.message.id).status == STATUS_CANCELLED, timeout=5_000
    )

    # 4. Edit the last question and send it again: Shift+Tab back to its Edit, Space, retype,
    # Tab to the editor's Send, Space.
    window.session.base_sampling = p.SamplingParams(max_tokens=8, seed=1)
    last_question = window.chat_view.widgets[-2]
    assert last_question.message.role == "user"
    tab_to(qtbot, is_(last_question.edit_button), back=True)
    assert_focus_visible(qtbot)
    press(qtbot, Key.Key_Space)
    editor = last_question.editor
    assert editor is not None and focused() is editor
    qtbot.waitUntil(editor.isVisible, timeout=2_000)  # a layout shows a new child a moment later
    assert_focus_visible(qtbot)
    press(qtbot, Key.Key_A, Ctrl)
    type_text(qtbot, "Write one line about a lighthouse.")
    tab_to(qtbot, named("editSend"))
    assert_focus_visible(qtbot)
    with wait_event(qtbot, window.session.answer_finished, timeout=ANSWER_TIMEOUT_MS):
        press(qtbot, Key.Key_Space)
    edited, new_answer = window.chat_view.widgets[-2:]
    assert edited.message.role == "user" and edited.text == "Write one line about a lighthouse."
    assert new_answer.message.role == "assistant" and new_answer.message.status != STATUS_CANCELLED
    assert edited.versions == (2, 2)  # the question as it was is kept as version 1

    # 5. Pick the documents collection for this chat: Tab to "Documents: off", Space opens its
    # menu, Down to "Handbook", Enter.
    picker = window.documents_in_chat.picker
    qtbot.waitUntil(lambda: "Handbook" in picker.actions_by_name(), timeout=10_000)
    tab_to(qtbot, is_(picker))
    assert_focus_visible(qtbot)
    in_menu: list[str] = []

    def choose() -> None:
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        qtbot.keyClick(menu, Key.Key_Down)
        active = menu.activeAction()
        in_menu.append(active.text() if active is not None else "")
        qtbot.keyClick(menu, Key.Key_Return)

    QTimer.singleShot(200, choose)
    press(qtbot, Key.Key_Space)  # the menu runs its own loop until Enter closes it
    qtbot.waitUntil(lambda: bool(in_menu), timeout=5_000)
    assert in_menu == ["Handbook"]
    assert window.session.collections() == ["Handbook"]
    assert picker.text() == "Documents: Handbook"
    conversation = window.store.get_conversation(window.session.conversation_id)
    assert conversation is not None and conversation.settings.get("collections") == ["Handbook"]
    assert focused() is picker  # back where it was when the menu closed
    assert_focus_visible(qtbot)

    # Ctrl+Q still quits from wherever the keyboard is.
    press(qtbot, Key.Key_Q, Ctrl)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)


def test_a_download_starts_from_discover_by_keyboard_alone(
    qtbot: Any, make_window: Any, fake_hub: FakeHub, app_look: QApplication
) -> None:
    from app.core.settings import Settings, save_settings

    repo = "acme/Tiny-Chat-GGUF"
    data = b"GGUF" + os.urandom(2_000_000)
    fake_hub.add_repo(repo, card="# Tiny Chat\n\nA small model for tests.\n")
    fake_hub.add_file(repo, "tiny-chat-Q4_K_M.gguf", data)
    fake_hub.faults.throttle_bps = 1_000_000  # slow enough to see it progress
    save_settings(Settings(scan_other_apps=False))
    window = make_window()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)

    # Ctrl+2, Tab to the search box, type, Enter; Tab to the results, Down, Enter (its page).
    press(qtbot, Key.Key_2, Ctrl)
    assert window.current_page() == "discover"
    home = window.models_area.discover.home
    tab_to(qtbot, is_(home.search_edit))
    assert_focus_visible(qtbot)
    type_text(qtbot, "tiny")
    press(qtbot, Key.Key_Return)
    qtbot.waitUntil(lambda: home.results.topLevelItemCount() == 1, timeout=20_000)
    tab_to(qtbot, is_(home.results))
    assert_focus_visible(qtbot)
    press(qtbot, Key.Key_Down)
    page = window.models_area.discover.model_page
    press(qtbot, Key.Key_Return)
    qtbot.waitUntil(lambda: bool(page.download_buttons), timeout=20_000)
    assert window.models_area.discover.stack.currentWidget() is page

    # Tab to the file's Download button, Space: the download starts and its row progresses.
    button = page.download_buttons["tiny-chat-Q4_K_M.gguf"]
    tab_to(qtbot, is_(button))
    assert_focus_visible(qtbot)
    controller = window.models_area.downloads
    seen: list[Any] = []
    controller.progressed.connect(lambda progress: seen.append(progress.downloaded))
    press(qtbot, Key.Key_Space)
    qtbot.waitUntil(lambda: bool(controller.jobs()), timeout=5_000)
    (job,) = controller.jobs()
    assert (job.repo_id, job.filename) == (repo, "tiny-chat-Q4_K_M.gguf")
    panel = window.models_area.discover.downloads_panel
    qtbot.waitUntil(lambda: job.id in panel.rows and panel.rows[job.id].isVisible(), timeout=5_000)
    qtbot.waitUntil(lambda: any(0 < d < len(data) for d in seen), timeout=20_000)
    fake_hub.faults.throttle_bps = None
    qtbot.waitUntil(lambda: panel.rows[job.id].progress.value() == 1000, timeout=30_000)
