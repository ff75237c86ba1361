"""Accessibility (issue 13, part 5): every interactive control on every page has a name a
screen reader can say, answers are announced once when finished, colours meet WCAG AA in light
and dark, and the window's text follows the OS font size."""

from __future__ import annotations

import re

import pytest
from PySide6.QtGui import QAccessible, QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QTextEdit,
    QWidget,
)

from app.core.chat.store import Message
from app.ui import accessibility
from app.ui.accessibility import AA_NORMAL_TEXT, contrast_ratio
from app.ui.theme import DARK_OVERRIDES, dark_palette, light_palette, scale_font_sizes

INTERACTIVE = (
    QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractSlider, QTextEdit,
    QPlainTextEdit, QAbstractItemView,
)  # fmt: skip


def _unnamed(root: QWidget) -> list[str]:
    found = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or not widget.isVisible():
            continue
        # A list's header, a scroll area's scroll bar and a spin box's inner line edit are parts
        # of a control that the accessibility tree exposes through it (columns, position, value).
        if isinstance(widget, QHeaderView | QScrollBar) or widget.objectName() == "qt_spinbox_lineedit":
            continue
        iface = QAccessible.queryAccessibleInterface(widget)
        if iface is None or not iface.text(QAccessible.Text.Name).strip():
            found.append(f"{type(widget).__name__}#{widget.objectName()} in {type(widget.parent()).__name__}")
    return found


def test_every_interactive_control_on_every_page_has_a_name(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    unnamed: dict[str, list[str]] = {}
    for page in ("chat", "discover", "library", "documents", "settings"):
        window.show_page(page)
        qtbot.wait(50)
        unnamed[page] = _unnamed(window)
    window.show_page("chat")
    window.settings_button.setChecked(True)  # the chat settings drawer
    qtbot.waitUntil(lambda: window.chat_settings.panel is not None and window.chat_settings.panel.isVisible())
    unnamed["chat settings"] = _unnamed(window.chat_settings.panel)
    assert not any(unnamed.values()), unnamed
    checked = sum(
        1 for w in window.findChildren(QWidget) if isinstance(w, INTERACTIVE)
    )
    assert checked > 40  # the walk really saw the pages' controls


def test_symbol_buttons_are_named_by_what_they_do(qtbot) -> None:  # type: ignore[no-untyped-def]
    from app.ui.message_widget import MessageWidget

    message = Message(
        id=1, conversation_id=1, role="assistant", content="Hello", status="done", created_at=0.0
    )
    widget = MessageWidget(message, versions=(2, 3))
    qtbot.addWidget(widget)
    names = {
        QAccessible.queryAccessibleInterface(b).text(QAccessible.Text.Name)
        for b in (widget.previous_button, widget.next_button)
    }
    assert names == {"Earlier version", "Later version"}


def test_an_answer_is_announced_once_when_it_is_finished(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from app.ui.message_widget import MessageWidget

    heard: list[str] = []
    monkeypatch.setattr(accessibility, "announce", lambda _widget, text: heard.append(text))
    message = Message(
        id=2, conversation_id=1, role="assistant", content="", status="streaming", created_at=0.0
    )
    widget = MessageWidget(message)
    qtbot.addWidget(widget)
    for piece in ("The office ", "opens at ", "8:30.\n\n", "Bring your badge."):
        widget.append(piece)
    assert heard == []  # nothing word by word
    widget.finish("done")
    assert heard == ["Answer: The office opens at 8:30.\n\nBring your badge."]


def test_a_real_announcement_event_is_accepted_by_qt(qtbot) -> None:  # type: ignore[no-untyped-def]
    label = QLabel("x")
    qtbot.addWidget(label)
    accessibility.announce(label, "Answer: hello")  # must not raise on any platform plugin
    accessibility.announce(label, "   ")


ROLE_PAIRS = [
    (QPalette.ColorRole.WindowText, QPalette.ColorRole.Window),
    (QPalette.ColorRole.Text, QPalette.ColorRole.Base),
    (QPalette.ColorRole.Text, QPalette.ColorRole.AlternateBase),
    (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Button),
    (QPalette.ColorRole.HighlightedText, QPalette.ColorRole.Highlight),
    (QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.Window),
    (QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.Base),
    (QPalette.ColorRole.PlaceholderText, QPalette.ColorRole.AlternateBase),
    (QPalette.ColorRole.Link, QPalette.ColorRole.Base),
    (QPalette.ColorRole.ToolTipText, QPalette.ColorRole.ToolTipBase),
]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_palette_colours_meet_wcag_aa(qtbot, theme: str) -> None:  # type: ignore[no-untyped-def]
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    palette = light_palette(app.style().standardPalette()) if theme == "light" else dark_palette()
    low = {
        f"{fg.name}/{bg.name}": round(contrast_ratio(palette.color(fg), palette.color(bg)), 2)
        for fg, bg in ROLE_PAIRS
        if contrast_ratio(palette.color(fg), palette.color(bg)) < AA_NORMAL_TEXT
    }
    assert not low, low


def _fixed_pairs(sheet: str) -> list[tuple[str, str, str]]:
    """(selector, colour, background) for rules of the sheet that set both as #hex."""
    pairs = []
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", sheet):
        color = re.search(r"(?<!-)color:\s*(#[0-9a-fA-F]{6})", body)
        background = re.search(r"background:\s*(#[0-9a-fA-F]{6})", body)
        if color and background:
            pairs.append((selector.strip(), color.group(1), background.group(1)))
    return pairs


def test_fixed_colours_of_the_style_sheet_meet_wcag_aa() -> None:
    from app.core import paths

    light = (paths.resources_dir() / "style.qss").read_text(encoding="utf-8")
    pairs = _fixed_pairs(light) + _fixed_pairs(DARK_OVERRIDES)
    # Rules where the text colour sits on a frame's background set by another rule.
    for text_rule, frame_rule, sheet in (
        ("QFrame#indexingPanel QLabel", "QFrame#indexingPanel", light),
        ("QFrame#indexingPanel QLabel", "QFrame#indexingPanel", DARK_OVERRIDES),
        ("QFrame#noticeBar QLabel", 'QFrame#noticeBar[level="info"]', DARK_OVERRIDES),
        ("QFrame#noticeBar QLabel", 'QFrame#noticeBar[level="error"]', DARK_OVERRIDES),
        ("QFrame#noticeBar QLabel", 'QFrame#noticeBar[level="warning"]', DARK_OVERRIDES),
    ):
        color = re.search(re.escape(text_rule) + r"\s*\{[^}]*?(?<!-)color:\s*(#[0-9a-fA-F]{6})", sheet)
        background = re.search(re.escape(frame_rule) + r"\s*\{[^}]*?background:\s*(#[0-9a-fA-F]{6})", sheet)
        assert color and background, (text_rule, frame_rule)
        pairs.append((text_rule, color.group(1), background.group(1)))
    assert len(pairs) >= 10
    low = [
        (sel, fg, bg, round(contrast_ratio(QColor(fg), QColor(bg)), 2))
        for sel, fg, bg in pairs
        if contrast_ratio(QColor(fg), QColor(bg)) < AA_NORMAL_TEXT
    ]
    assert not low, low


def test_text_follows_the_os_font_size(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    from app.ui.theme import apply_theme

    assert scale_font_sizes("QLabel { font-size: 13px; }", 20.0) == "QLabel { font-size: 20.0pt; }"
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.font()
    manager = apply_theme("light", app)  # as app/ui/launch.py does
    window = make_window()
    try:
        def body_size() -> float:
            label = window.findChild(QLabel, "emptyState") or window.findChild(QLabel, "modelName")
            assert label is not None
            return label.font().pointSizeF()

        normal = body_size()
        bigger = QFont(before)
        bigger.setPointSizeF(before.pointSizeF() * 2)
        app.setFont(bigger)  # what the OS does when the user picks larger text
        qtbot.waitUntil(lambda: body_size() > 1.8 * normal, timeout=3_000)
    finally:
        app.fontChanged.disconnect(manager._on_font_changed)
        app.setFont(before)
        app.setStyleSheet("")
        app.setPalette(app.style().standardPalette())
