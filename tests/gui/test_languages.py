"""Languages (issue 13, part 4): German and French are complete, nothing English is left on any
page, German text is not cut off, the language follows the OS and Settings, and a right-to-left
language turns the layout around (checked with a pseudo-translation)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale, QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTextEdit,
    QTreeWidget,
    QWidget,
)

from app.core import i18n
from app.ui import language
from app.ui.elided import ElidedLabel
from installers import i18n as tools

PAGES = ("chat", "discover", "library", "documents", "settings")
SHIPPED = ("de", "fr")
ROOT = Path(__file__).resolve().parents[2]

# Words that are the same in the language, or names: a text made only of these is not English
# left behind. Everything else identical to the English window is.
SAME_IN = {
    "de": {"Enclave", "Hugging Face", "Chat", "OK", "API", "GPU", "CPU", "RAM", "Details", "Name",
           "Start", "Status", "Server", "Token", "Modell", "Download", "Downloads", "Proxy", "Tokens",
           "Filter"},
    "fr": {"Enclave", "Hugging Face", "Chat", "OK", "API", "GPU", "CPU", "RAM", "Documents", "Document",
           "Modèle", "Collections", "Collection", "Source", "Sources", "Passages", "Code", "Options",
           "Test", "Tester",
           "Licence", "Type", "Instructions", "Discussion", "Date"},
}  # fmt: skip
_NAME_LIKE = re.compile(r"^[\W\d_]*$|\.gguf|\.py$|^hf_|https?://|^[A-Z0-9_.\-]+$")


@pytest.fixture
def in_language(qtbot) -> Iterator:  # type: ignore[no-untyped-def]
    app = QApplication.instance()

    def switch(code: str, folder: Path | None = None) -> str:
        return language.apply_language(app, code, folder)

    yield switch
    language.apply_language(app, "en")
    assert app.layoutDirection() == Qt.LayoutDirection.LeftToRight


def _texts(widget: QWidget) -> list[tuple[str, str]]:
    """(what, text) for everything a person reads or a screen reader says on one widget."""
    found = [("tooltip", widget.toolTip()), ("name", widget.accessibleName()),
             ("description", widget.accessibleDescription())]  # fmt: skip
    if isinstance(widget, QLabel | QAbstractButton):
        found.append(("text", widget.text()))
    elif isinstance(widget, QLineEdit | QTextEdit | QPlainTextEdit):
        found.append(("placeholder", widget.placeholderText()))
    elif isinstance(widget, QComboBox):
        found += [(f"item {i}", widget.itemText(i)) for i in range(widget.count())]
    elif isinstance(widget, QGroupBox):
        found.append(("title", widget.title()))
    elif isinstance(widget, QTabWidget):
        found += [(f"tab {i}", widget.tabText(i)) for i in range(widget.count())]
    elif isinstance(widget, QTreeWidget):
        header = widget.headerItem()
        found += [(f"column {i}", header.text(i)) for i in range(header.columnCount())]
    return [(what, _plain(text)) for what, text in found if text and _plain(text)]


def _plain(text: str) -> str:
    return re.sub(r"<[^>]+>", " ", text).replace("&nbsp;", " ").strip()


def _path(widget: QWidget, root: QWidget) -> str:
    parts = []
    while widget is not None and widget is not root:
        parent = widget.parentWidget()
        direct = Qt.FindChildOption.FindDirectChildrenOnly
        siblings = parent.findChildren(type(widget), options=direct) if parent else []
        index = siblings.index(widget) if widget in siblings else 0
        parts.append(f"{type(widget).__name__}#{widget.objectName()}[{index}]")
        widget = parent
    return "/".join(reversed(parts))


def _walk(window: QWidget, qtbot) -> dict[str, str]:  # type: ignore[no-untyped-def]
    seen: dict[str, str] = {}
    for page in PAGES:
        window.show_page(page)  # type: ignore[attr-defined]
        qtbot.wait(80)
        for widget in window.findChildren(QWidget):
            if not widget.isVisible():
                continue
            for what, text in _texts(widget):
                seen[f"{page}: {_path(widget, window)} {what}"] = text
    return seen


def _english_left(english: dict[str, str], translated: dict[str, str], lang: str) -> list[str]:
    # A text the translator kept as it is ("Internet", "Port:") is theirs to keep.
    kept = {t for m in tools.read_messages(tools.ts_path(lang)) for t in m.translations if t == m.source}
    same = SAME_IN[lang] | {"Ctrl"}
    left = []
    for key, text in translated.items():
        if english.get(key) != text or text in same or text in kept or _NAME_LIKE.search(text):
            continue
        if "#languageCombo" in key:  # each language is named in itself, whatever the window's
            continue
        words = [w for w in re.findall(r"[^\W\d_]{3,}", text) if w not in same]
        if words:
            left.append(f"{key}: {text[:80]!r}")
    return left


# -- the files ------------------------------------------------------------------------------


def test_the_ts_files_hold_exactly_the_texts_in_the_code() -> None:
    texts, problems = tools.collect()
    assert problems == []
    wanted = {(t.context, t.source, t.comment) for t in texts}
    for lang in SHIPPED:
        held = {(m.context, m.source, m.comment) for m in tools.read_messages(tools.ts_path(lang))}
        assert held == wanted, f"run `python -m installers.i18n update` ({lang}: {len(wanted - held)} new)"


@pytest.mark.parametrize("lang", SHIPPED)
def test_no_message_is_left_untranslated_or_broken(lang: str) -> None:
    left = tools.unfinished(lang)
    assert [f"[{m.context}] {m.source}" for m in left] == []
    assert tools.check_file(lang) == []


def test_the_shipped_qm_files_are_built_from_the_ts_files(tmp_path: Path) -> None:
    tools.release(SHIPPED, out=tmp_path)
    for lang in SHIPPED:
        assert (tmp_path / f"enclave_{lang}.qm").read_bytes() == tools.qm_path(lang).read_bytes(), (
            "run `python -m installers.i18n release`"
        )


def test_a_translation_that_breaks_a_placeholder_is_caught() -> None:
    assert tools.translation_problems("{count} files", "{anzahl} Dateien", False)
    assert tools.translation_problems("%n files", "Dateien", True)
    assert tools.translation_problems("Open <b>{name}</b>", "{name} öffnen", False)
    assert tools.translation_problems("{count} files", "{count} Dateien", False) == []


# -- the window -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", SHIPPED)
def test_no_english_is_left_on_any_page(qtbot, make_window, in_language, lang: str) -> None:  # type: ignore[no-untyped-def]
    english = _walk(make_window(), qtbot)
    assert in_language(lang) == lang
    translated = _walk(make_window(), qtbot)
    assert len(translated) > 150  # the walk reads the pages (both windows have the same parts)
    assert len(set(english) & set(translated)) > 0.9 * len(english)
    left = _english_left(english, translated, lang)
    assert not left, "\n".join(left)


def test_the_german_window_shows_german(qtbot, make_window, in_language) -> None:  # type: ignore[no-untyped-def]
    in_language("de")
    window = make_window()
    window.show_page("settings")
    texts = " ".join(_walk(window, qtbot).values())
    for word in ("Einstellungen", "Bibliothek", "Entdecken", "Senden"):
        assert word in texts
    assert i18n.number(6100) == "6.100" and i18n.number(2.5, 1) == "2,5"
    assert i18n.translate("documents_files", "%n passages", None, 1) != "1 passage"


def _clipped(widget: QWidget) -> bool:
    """Part of the widget lies outside an enclosing widget (so it is not drawn), left or right."""
    window = widget.window()
    left = widget.mapTo(window, QPoint(0, 0)).x()
    right = left + widget.width()
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        if parent.objectName() == "qt_scrollarea_viewport":  # scrolled to: the rest is reachable
            return False
        parent_left = parent.mapTo(window, QPoint(0, 0)).x()
        if left < parent_left - 1 or right > parent_left + parent.width() + 1:
            return True
        parent = parent.parentWidget()
    return False


def _cut_off(widget: QWidget) -> str | None:
    """Why a visible control's text does not fit its width, or None when it fits."""
    if not widget.isVisible() or isinstance(widget, ElidedLabel):  # elides on purpose, full text on hover
        return None
    label = isinstance(widget, QLabel) and not widget.wordWrap()
    button = isinstance(widget, QAbstractButton) and not isinstance(widget, QCheckBox)
    if (label or button) and widget.text():  # type: ignore[attr-defined]
        needed = widget.sizeHint().width()
    elif isinstance(widget, QCheckBox) and widget.text():
        needed = widget.minimumSizeHint().width()
    else:
        return None
    text = _plain(widget.text())[:60]  # type: ignore[attr-defined]
    if widget.width() + 1 < needed:
        return f"{type(widget).__name__} {text!r} {widget.width()} < {needed}"
    if _clipped(widget):
        return f"{type(widget).__name__} {text!r} reaches outside what holds it"
    return None


def test_the_cut_off_check_sees_a_cut_label(qtbot) -> None:  # type: ignore[no-untyped-def]
    label = QLabel("Eine ziemlich lange Beschriftung, die nicht passt")
    qtbot.addWidget(label)
    label.setFixedWidth(60)
    label.show()
    assert _cut_off(label)
    label.setFixedWidth(label.sizeHint().width())
    assert _cut_off(label) is None
    holder = QWidget()
    qtbot.addWidget(holder)
    holder.resize(120, 40)
    inner = QWidget(holder)
    inner.setGeometry(0, 0, 120, 40)
    button = QPushButton("Empfohlenes Modell für diesen Computer herunterladen", inner)
    button.setGeometry(0, 0, button.sizeHint().width(), 30)  # whole, but wider than what holds it
    holder.show()
    assert "outside" in (_cut_off(button) or "")


@pytest.mark.parametrize(
    ("lang", "size", "drawer_open"),
    [("de", (1100, 760), False), ("de", (800, 600), False), ("de", (800, 600), True),
     ("fr", (800, 600), False), ("fr", (800, 600), True)],
)  # fmt: skip
def test_translated_text_is_not_cut_off_down_to_800_by_600(  # type: ignore[no-untyped-def]
    qtbot, make_window, in_language, lang: str, size: tuple[int, int], drawer_open: bool
) -> None:
    in_language(lang)
    window = make_window()
    window.settings_button.setChecked(drawer_open)  # the chat settings drawer
    for page in PAGES:
        window.show_page(page)  # every page built: none may hold the window wider
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() == size[0])  # the window can be that small
    assert window.minimumSizeHint().width() <= 800
    cut = []
    for page in PAGES:
        window.show_page(page)
        qtbot.wait(80)
        cut += [f"{page}: {why}" for w in window.findChildren(QWidget) if (why := _cut_off(w))]
    assert not cut, "\n".join(cut)


def test_the_language_follows_the_os() -> None:
    code = "from app.ui.language import resolve; print(resolve('system'))"
    for lang_env, expected in (("de_DE.UTF-8", "de"), ("fr_CA.UTF-8", "fr"), ("ja_JP.UTF-8", "en")):
        env = {**os.environ, "LANG": lang_env, "LC_ALL": lang_env, "LANGUAGE": ""}
        env["QT_QPA_PLATFORM"] = "offscreen"
        env.pop("ENCLAVE_LANGUAGE", None)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT,
                             timeout=60, check=True)  # fmt: skip
        assert out.stdout.strip() == expected, (lang_env, out.stderr)


def test_choosing_a_language_in_settings_offers_a_restart(  # type: ignore[no-untyped-def]
    qtbot, make_window, monkeypatch
) -> None:
    from app.ui.pages import language_setting

    restarts: list[bool] = []
    monkeypatch.setattr(language_setting, "restart_app", lambda: restarts.append(True))
    window = make_window()
    window.show_page("settings")
    section = window.models_area.settings.language_section
    assert not section.restart_button.isVisible()
    section.combo.setCurrentIndex(section.combo.findData("de"))
    assert window.settings_store.current.language == "de"
    qtbot.waitUntil(section.restart_button.isVisible)
    assert "Neustart" in section.notice.text()  # said in the language chosen
    qtbot.mouseClick(section.restart_button, Qt.MouseButton.LeftButton)
    assert restarts == [True]
    section.combo.setCurrentIndex(section.combo.findData("en"))
    qtbot.waitUntil(lambda: not section.restart_button.isVisible())


def test_a_missing_translation_file_keeps_the_window_in_english(  # type: ignore[no-untyped-def]
    tmp_path: Path, in_language
) -> None:
    assert in_language("de", tmp_path) == "en"
    assert i18n.translate("settings_page", "Settings") == "Settings"


def _pseudo_rtl(folder: Path) -> None:
    """A pseudo-translation in Arabic's place: every text wrapped in right-to-left marks."""
    tools.update(("ar",), folder)
    entries = []
    for m in tools.read_messages(tools.ts_path("ar", folder)):
        text = f"\u200f‹{m.source}›"
        entries.append({"context": m.context, "source": m.source, "comment": m.comment,
                        "translation": [text, text] if m.numerus else text})  # fmt: skip
    todo = folder / "ar.json"
    todo.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    tools.import_translations("ar", todo, folder)
    tools.release(("ar",), folder)


def test_a_right_to_left_language_turns_the_layout_around(  # type: ignore[no-untyped-def]
    qtbot, make_window, in_language, tmp_path: Path
) -> None:
    _pseudo_rtl(tmp_path)
    assert in_language("ar", tmp_path) == "ar"
    assert QLocale().textDirection() == Qt.LayoutDirection.RightToLeft
    window = make_window()
    assert QApplication.instance().layoutDirection() == Qt.LayoutDirection.RightToLeft
    window.show_page("chat")
    qtbot.wait(80)
    rail = window.page_rail.rail
    # The page rail sits at the left in English: here it is on the right.
    assert rail.mapTo(window, rail.rect().topLeft()).x() > window.width() / 2
    assert window.composer.send_button.text().startswith("\u200f‹")
