"""The sections under "Advanced" in the chat settings drawer, on their own: the sampling
section reports the user's edits only, and both sections speak the window's language (the
language walk in test_languages.py sees only what is on screen, and "Advanced" starts folded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QAbstractButton, QApplication, QComboBox, QLabel, QLineEdit, QWidget

from app.core.engine.protocol import SamplingParams
from app.ui import language
from app.ui.conversation_settings import ConversationSettingsPanel
from app.ui.sampling_settings import SamplingSettings
from installers import i18n as tools


def test_sampling_section_reports_edits_but_not_what_it_is_shown(qtbot) -> None:  # type: ignore[no-untyped-def]
    box = SamplingSettings()
    qtbot.addWidget(box)
    edits: list[None] = []
    box.changed.connect(lambda: edits.append(None))
    shown = SamplingParams(temperature=0.3, top_p=0.9, top_k=20, min_p=0.1, repeat_penalty=1.2,
                           max_tokens=300, seed=42)  # fmt: skip
    box.show_sampling(shown)
    assert edits == [] and box.sampling() == shown
    box.max_tokens.setValue(7)
    box.seed.setText("")
    assert len(edits) == 2
    assert box.sampling() == SamplingParams(temperature=0.3, top_p=0.9, top_k=20, min_p=0.1,
                                            repeat_penalty=1.2, max_tokens=7, seed=None)  # fmt: skip


def _advanced_texts(panel: ConversationSettingsPanel) -> set[str]:
    texts: set[str] = set()
    for widget in panel.advanced.findChildren(QWidget):
        texts.add(widget.toolTip())
        if isinstance(widget, QLabel | QAbstractButton):
            texts.add(widget.text())
        elif isinstance(widget, QLineEdit):
            texts.add(widget.placeholderText())
        elif isinstance(widget, QComboBox):
            texts.update(widget.itemText(i) for i in range(widget.count()))
    return texts - {""}


@pytest.fixture
def app_language() -> Iterator[QApplication]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    yield app
    language.apply_language(app, "en")


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_advanced_sections_are_translated(qtbot, app_language: QApplication, lang: str) -> None:  # type: ignore[no-untyped-def]
    def panel_texts() -> set[str]:
        panel = ConversationSettingsPanel()
        qtbot.addWidget(panel)
        panel.bind("", {}, new_chat=True)
        panel.set_model("model.gguf", "", "", False)
        return _advanced_texts(panel)

    english = panel_texts()
    assert language.apply_language(app_language, lang) == lang
    translated = panel_texts()
    checked = 0
    for message in tools.read_messages(tools.ts_path(lang)):
        if message.context not in ("sampling_settings", "model_load_settings", "conversation_settings"):
            continue
        if message.source not in english or message.translations[-1] == message.source:
            continue  # not in this section as it is, or the same in that language ("Top-p")
        assert message.translations[-1] in translated, (message.context, message.source)
        assert message.source not in translated, (message.context, message.source)
        checked += 1
    assert checked >= 20  # the labels, tooltips and items of both sections
