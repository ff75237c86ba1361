"""Chat settings as a user meets them: presets, instructions and sampling per conversation, the
context meter with old messages left out, a chat format chosen per model, and the dark theme."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app.core.chat import presets as pr
from app.core.chat.store import STATUS_COMPLETE, ChatStore
from app.core.engine import protocol as p
from app.core.settings import load_settings
from app.ui.main_window import MainWindow
from tests.gui.events import wait_event

LOAD_TIMEOUT_MS = 60_000
SCREENS = Path(__file__).resolve().parents[1] / "output" / "screens"


def load(qtbot, window: MainWindow, model: Path) -> Any:
    with wait_event(qtbot, window.service.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.open_model(model)
    return blocker.args[0]


def ask(qtbot, window: MainWindow, text: str) -> None:
    with wait_event(qtbot, window.session.answer_finished, timeout=60_000):
        window.composer.edit.setPlainText(text)
        window.composer._submit()


def record_requests(window: MainWindow) -> list[tuple[list[dict[str, str]], p.SamplingParams]]:
    requests: list[tuple[list[dict[str, str]], p.SamplingParams]] = []
    original = window.service.local.chat

    def chat(messages, sampling=None, **kwargs):
        requests.append((messages, sampling))
        return original(messages, sampling, **kwargs)

    window.service.local.chat = chat  # type: ignore[method-assign]
    return requests


@pytest.fixture
def restore_look():
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    sheet, palette, style = app.styleSheet(), app.palette(), app.style().name()
    yield app
    if style:
        app.setStyle(style)
    app.setPalette(palette)
    app.setStyleSheet(sheet)


def test_preset_prompt_and_sampling_reach_the_answer_and_survive_reopening(
    qtbot, make_window, chat_model_path: Path
) -> None:
    window = make_window()
    load(qtbot, window, chat_model_path)
    requests = record_requests(window)
    window.settings_button.click()
    panel = window.chat_settings.panel
    assert panel is not None and panel.isVisible()
    assert "new chat" in panel.scope_label.text()
    assert panel.preset_combo.currentText() == pr.DEFAULT_PRESET  # good defaults for a new chat
    assert not panel.advanced.isVisible()  # the rest under "Advanced"

    # Choose a preset: its instructions and sampling fill the panel.
    summarize = pr.find_preset("Summarize")
    assert summarize is not None
    panel.preset_combo.setCurrentIndex(panel.preset_combo.findData("Summarize"))
    panel.preset_combo.activated.emit(panel.preset_combo.currentIndex())
    assert panel.system_prompt() == summarize.system_prompt
    assert panel.sampling_box.temperature.value() == pytest.approx(0.3)
    panel.advanced_button.click()
    assert panel.advanced.isVisible()
    panel.sampling_box.max_tokens.setValue(7)
    panel.sampling_box.seed.setText("5")
    assert "Changed from “Summarize”" in panel.preset_hint.text()

    ask(qtbot, window, "Tell me a long story about a dragon and a knight.")
    messages, sampling = requests[-1]
    assert messages[0] == {"role": "system", "content": summarize.system_prompt}
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.seed) == (0.3, 0.9, 7, 5)
    answer = window.store.messages(window.session.conversation_id)[-1]
    assert answer.status == STATUS_COMPLETE and answer.stats["generated_tokens"] == 7
    assert "this conversation" in panel.scope_label.text()

    # The same seed gives the same answer again.
    with wait_event(qtbot, window.session.answer_finished, timeout=60_000):
        window.chat_view.widgets[-1].regenerate_button.click()
    assert window.chat_view.widgets[-1].text == answer.content
    assert requests[-1][1].seed == 5

    # Stored on the conversation, merged with the documents picker's key.
    conversation_id = window.session.conversation_id
    conversation = window.store.get_conversation(conversation_id)
    assert conversation is not None and conversation.system_prompt == summarize.system_prompt
    assert conversation.settings["preset"] == "Summarize" and "collections" in conversation.settings
    assert conversation.settings["sampling"]["max_tokens"] == 7

    # Own instructions, saved as a preset of one's own (the file in the config folder).
    panel.prompt_edit.setPlainText("Answer like a pirate.")
    assert panel.save_preset_as("Pirate") == ""
    assert [x.name for x in pr.load_user_presets()] == ["Pirate"]
    assert panel.delete_preset_button.isVisible()
    assert panel.save_preset_as("Summarize")  # built-in names are taken: a reason comes back

    # A new chat starts from the defaults; the old one keeps its settings when reopened.
    window.chat.new_chat()
    assert panel.preset_combo.currentText() == pr.DEFAULT_PRESET and panel.sampling_box.seed.text() == ""
    window.session.open_conversation(conversation_id)
    assert panel.system_prompt() == "Answer like a pirate."
    assert panel.sampling_box.max_tokens.value() == 7 and panel.sampling_box.seed.text() == "5"
    assert panel.preset_combo.currentData() == "Pirate"
    conversation = window.store.get_conversation(conversation_id)
    assert conversation is not None and conversation.system_prompt == "Answer like a pirate."
    assert "collections" in conversation.settings

    # ...also after a restart of the app.
    window.close()
    again = make_window()
    qtbot.waitUntil(lambda: again.session.conversation_id == conversation_id, timeout=5_000)
    again.chat_settings.show_drawer(True)
    assert again.chat_settings.panel.system_prompt() == "Answer like a pirate."
    assert again.chat_settings.panel.sampling_box.max_tokens.value() == 7


def test_meter_and_left_out_messages_with_a_tiny_context(
    qtbot, make_window, chat_model_path: Path, tmp_path: Path, restore_look
) -> None:
    store = ChatStore(tmp_path / "enclave.db")
    conversation = store.create_conversation("long talk")
    for i in range(12):
        store.add_message(conversation.id, "user", f"Question {i}: " + "tell me about the weather. " * 8)
        store.add_message(conversation.id, "assistant", f"Answer {i}: " + "it is sunny and warm. " * 8)
    # This conversation asks for a small context: the model loads with it.
    store.update_conversation(conversation.id, settings={"context_size": 512, "collections": []})
    store.close()
    window = make_window()
    qtbot.waitUntil(lambda: window.session.conversation_id == conversation.id, timeout=5_000)
    outcome = load(qtbot, window, chat_model_path)
    assert outcome.loaded.n_ctx == 512 and window.service.plan.n_ctx == 512
    meter = window.context_meter
    qtbot.waitUntil(lambda: meter.isVisible() and meter.dropped > 0, timeout=5_000)
    assert "% full" in meter.label.text() and "of 512 tokens" in meter.label.toolTip()
    assert "oldest messages left out" in meter.note.text() and meter.note.isVisible()
    first = window.chat_view.widgets[0]
    assert first.forgotten_marker is not None and first.forgotten_marker.isVisible()
    assert not window.chat_view.widgets[-1].property("forgotten")
    assert window.chat_view.memory_divider.isVisible()
    dropped_before = meter.dropped

    # Typing counts too (debounced): a long draft pushes more old messages out.
    window.composer.edit.setPlainText("And tomorrow? " * 20)
    qtbot.waitUntil(lambda: meter.dropped > dropped_before, timeout=3_000)

    # The answer still comes: no "context exceeded" error.
    window.session.base_sampling = p.SamplingParams(max_tokens=8, seed=1)
    ask(qtbot, window, "What about tomorrow?")
    last = window.store.messages(conversation.id)[-1]
    assert last.status == STATUS_COMPLETE and last.stats["generated_tokens"] > 0
    assert not window.notice.isVisible() or "context" not in window.notice.text.lower()
    assert meter.isVisible() and meter.dropped > 0

    # The screenshot: the chat with its settings drawer open, the meter and the divider.
    from app.ui.theme import apply_theme

    apply_theme("light", restore_look)  # the app's look: Fusion and resources/style.qss
    window.resize(1280, 820)
    window.chat_settings.show_drawer(True)
    window.chat_settings.panel.set_advanced_visible(True)
    qtbot.wait(100)
    window.chat_view.ensureWidgetVisible(window.chat_view.memory_divider, 0, 200)
    qtbot.wait(300)
    SCREENS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENS / "chat_settings.png"))


def test_chat_format_override_is_stored_and_used_on_reload(qtbot, make_window, chat_model_path: Path) -> None:
    window = make_window()
    outcome = load(qtbot, window, chat_model_path)
    assert outcome.loaded.chat_format != "chatml"  # the file's template, or its architecture's
    window.chat_settings.show_drawer(True)
    panel = window.chat_settings.panel
    panel.set_advanced_visible(True)
    assert not panel.needs_reload
    combo = panel.load_box.format_combo
    assert combo.itemText(0) == "Automatic (from the model)"
    combo.setCurrentIndex(combo.findData("chatml"))
    combo.activated.emit(combo.currentIndex())
    assert load_settings().chat_format_overrides == {str(chat_model_path): "chatml"}
    assert panel.needs_reload and "Apply & reload" in panel.load_box.model_status.text()
    # Context size: the new chat's choice, applied by the same reload.
    panel.load_box.context_combo.setCurrentIndex(panel.load_box.context_combo.findData(4096))
    panel.load_box.context_combo.activated.emit(panel.load_box.context_combo.currentIndex())
    assert window.session.chat_settings()[1]["context_size"] == 4096

    with wait_event(qtbot, window.service.loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        panel.load_box.reload_button.click()
    reloaded = blocker.args[0]
    assert reloaded.loaded.chat_format == "chatml"
    assert reloaded.plan.n_ctx == 4096
    assert not panel.needs_reload and "chatml" in panel.load_box.model_status.text()
    window.session.base_sampling = p.SamplingParams(max_tokens=8, seed=1)
    ask(qtbot, window, "Say hello.")
    assert window.store.messages(window.session.conversation_id)[-1].stats["generated_tokens"] > 0

    # Back to automatic: the override is removed.
    combo.setCurrentIndex(0)
    combo.activated.emit(0)
    assert load_settings().chat_format_overrides == {}
    assert json.loads((pr.presets_path().parent / "settings.json").read_text())["chat_format_overrides"] == {}


def test_dark_theme_applies_a_dark_palette_and_screenshots(
    qtbot, make_window, restore_look, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.ui.message_widget import is_dark_palette
    from app.ui.theme import apply_theme

    store = ChatStore(tmp_path / "enclave.db")
    conversation = store.create_conversation("Summarize the notes")
    store.update_conversation(
        conversation.id,
        system_prompt=pr.BUILT_IN[1].system_prompt,
        settings=pr.preset_settings(pr.BUILT_IN[1]),
    )
    store.add_message(conversation.id, "user", "Summarize: the meeting moved to Tuesday, budget approved.")
    store.add_message(
        conversation.id,
        "assistant",
        "- Meeting moved to **Tuesday**\n- Budget approved\n\n```python\nprint('done')\n```",
    )
    store.close()

    apply_theme("light", restore_look)
    window = make_window()
    qtbot.waitUntil(lambda: len(window.chat_view.widgets) == 2, timeout=5_000)
    window.resize(1280, 820)
    window.chat_settings.show_drawer(True)

    apply_theme("dark", restore_look)
    assert is_dark_palette()
    assert QGuiApplication.palette().window().color().lightness() < 80
    assert QGuiApplication.palette().text().color().lightness() > 200
    # Answers on screen are drawn again with the dark code colours.
    assert "#1f2430" in window.chat_view.widgets[1].body.toHtml().lower()
    window.notice.show_message("Something to know about.", "warning")
    window.context_meter.set_usage(3900, 4096, 3)
    qtbot.wait(300)
    SCREENS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENS / "chat_settings_dark.png"))
    label_color = window.notice.label.palette().windowText().color()
    assert label_color.lightness() > 150  # light text on the dark notice background

    # "system" follows the OS's colour scheme, also when it changes while the app runs.
    import app.ui.theme as theme

    hints = QGuiApplication.styleHints()
    manager = apply_theme("system", restore_look)
    assert manager.dark == (hints.colorScheme() == Qt.ColorScheme.Dark)
    monkeypatch.setattr(theme, "os_prefers_dark", lambda: True)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert manager.dark and is_dark_palette()
    monkeypatch.setattr(theme, "os_prefers_dark", lambda: False)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not manager.dark and not is_dark_palette()
    apply_theme("light", restore_look)
    assert not is_dark_palette()
