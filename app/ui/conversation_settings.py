"""Chat settings: a drawer on the right of the chat, bound to the conversation on screen.

The common things are on top (a preset, the instructions the assistant follows); sampling,
context size and chat format sit under "Advanced" (their sections are sampling_settings.py and
model_load_settings.py; the panel composes them). The panel knows nothing about the store:
it shows what `bind()` gives it and reports edits with `edited(system_prompt, updates)`, where
updates are keys to merge into the conversation's settings (None removes a key); the window
saves them to the conversation, or keeps them for a new chat until its first message.
Context size and chat format take effect when the model is loaded again ("Apply & reload").
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat import presets as pr
from app.core.engine.protocol import SamplingParams
from app.core.i18n import translate
from app.ui.drawer_parts import fitting_combo, hint_label, section_label
from app.ui.model_load_settings import ModelLoadSettings
from app.ui.sampling_settings import SamplingSettings

EDIT_DELAY_MS = 300  # typing in the prompt is saved this long after the last key
PANEL_WIDTH = 340
PANEL_MIN_WIDTH = 270  # for a moment, while a small window folds the conversation list away


class ConversationSettingsPanel(QFrame):
    edited = Signal(str, dict)  # system prompt, settings updates (merge; None removes a key)
    chatFormatChosen = Signal(str)  # for the current model; "" = automatic
    reloadRequested = Signal()
    closeRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationSettings")
        self.setMinimumWidth(PANEL_MIN_WIDTH)
        self.setMaximumWidth(PANEL_WIDTH)
        self._binding = False
        self._pending: dict[str, Any] = {}
        self._prompt_dirty = False
        self._base_sampling = SamplingParams()
        self._preset_name = ""
        self._presets: list[pr.Preset] = []
        self.needs_reload = False
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(EDIT_DELAY_MS)
        self._save_timer.timeout.connect(self.flush)
        self._build()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(PANEL_WIDTH, super().sizeHint().height())

    # ---- construction -------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        header = QHBoxLayout()
        header.setContentsMargins(14, 10, 8, 6)
        title = QLabel(translate("conversation_settings", "Chat settings"))
        title.setObjectName("settingsTitle")
        header.addWidget(title, 1)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip(translate("conversation_settings", "Close the chat settings"))
        close.setAutoRaise(True)
        close.clicked.connect(self.closeRequested)
        header.addWidget(close)
        outer.addLayout(header)
        self.scope_label = hint_label()
        self.scope_label.setContentsMargins(14, 0, 14, 6)
        outer.addWidget(self.scope_label)

        scroll = QScrollArea()
        scroll.setObjectName("settingsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        body.setObjectName("settingsBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(14, 4, 14, 14)
        layout.setSpacing(6)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)

        layout.addWidget(section_label(translate("conversation_settings", "Preset")))
        self.preset_combo = fitting_combo("presetCombo")
        self.preset_combo.setToolTip(
            translate("conversation_settings", "Ready-made instructions and settings for common jobs")
        )
        self.preset_combo.activated.connect(self._on_preset_activated)
        layout.addWidget(self.preset_combo)
        self.preset_hint = hint_label()
        self.preset_hint.linkActivated.connect(lambda _link: self.reset_to_preset())
        layout.addWidget(self.preset_hint)
        preset_buttons = QHBoxLayout()
        self.save_preset_button = QPushButton(translate("conversation_settings", "Save as preset…"))
        self.save_preset_button.setToolTip(
            translate("conversation_settings", "Keep these instructions and settings for other chats")
        )
        self.save_preset_button.clicked.connect(self._ask_preset_name)
        self.delete_preset_button = QPushButton(translate("conversation_settings", "Delete preset"))
        self.delete_preset_button.setToolTip(
            translate("conversation_settings", "Delete this preset of yours (this chat keeps its settings)")
        )
        self.delete_preset_button.clicked.connect(self.delete_current_preset)
        preset_buttons.addWidget(self.save_preset_button)
        preset_buttons.addWidget(self.delete_preset_button)
        preset_buttons.addStretch(1)
        layout.addLayout(preset_buttons)

        layout.addSpacing(6)
        layout.addWidget(section_label(translate("conversation_settings", "Instructions for the assistant")))
        explain = hint_label(
            translate(
                "conversation_settings",
                "The assistant reads these before every answer in this chat (the “system prompt”).",
            )
        )
        layout.addWidget(explain)
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setObjectName("systemPromptEdit")
        self.prompt_edit.setAccessibleName(translate("conversation_settings", "Instructions for this chat"))
        self.prompt_edit.setPlaceholderText(
            translate("conversation_settings", "For example: You are a patient teacher. Answer in French.")
        )
        self.prompt_edit.setMinimumHeight(90)
        self.prompt_edit.setMaximumHeight(140)
        self.prompt_edit.textChanged.connect(self._on_prompt_changed)
        layout.addWidget(self.prompt_edit)

        layout.addSpacing(6)
        self.advanced_button = QToolButton()
        self.advanced_button.setObjectName("advancedToggle")
        self.advanced_button.setText(translate("conversation_settings", "Advanced"))
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self.set_advanced_visible)
        layout.addWidget(self.advanced_button)
        self.advanced = QWidget()
        self.advanced.setObjectName("advancedSettings")
        self._build_advanced(self.advanced)
        self.advanced.hide()
        layout.addWidget(self.advanced)
        layout.addStretch(1)

    def _build_advanced(self, holder: QWidget) -> None:
        layout = QVBoxLayout(holder)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.sampling_box = SamplingSettings()
        self.sampling_box.changed.connect(self._on_sampling_changed)
        layout.addWidget(self.sampling_box)
        self.reset_button = QPushButton(translate("conversation_settings", "Reset to the preset"))
        self.reset_button.clicked.connect(self.reset_to_preset)
        reset_row = QHBoxLayout()
        reset_row.addStretch(1)
        reset_row.addWidget(self.reset_button)
        layout.addLayout(reset_row)
        layout.addSpacing(8)
        self.load_box = ModelLoadSettings()
        self.load_box.contextChosen.connect(self._on_context_chosen)
        self.load_box.formatChosen.connect(self.chatFormatChosen)
        self.load_box.reloadRequested.connect(self.reloadRequested)
        layout.addWidget(self.load_box)

    # ---- binding ------------------------------------------------------------------------
    def bind(
        self,
        system_prompt: str,
        settings: dict[str, Any],
        *,
        new_chat: bool,
        base_sampling: SamplingParams | None = None,
        default_context: int = 8192,
    ) -> None:
        """Show a conversation's (or a new chat's) settings; edits go to it from now on.
        (The window calls flush() before it switches conversations.)"""
        self._save_timer.stop()
        self._pending = {}
        self._binding = True
        try:
            self._base_sampling = base_sampling or SamplingParams()
            self.scope_label.setText(
                translate("conversation_settings", "For the new chat: used from its first message.")
                if new_chat
                else translate(
                    "conversation_settings", "For this conversation only. Changes apply to the next answer."
                )
            )
            self._presets = pr.all_presets()
            self._preset_name = str(settings.get(pr.KEY_PRESET) or "")
            self.prompt_edit.setPlainText(system_prompt)
            self.sampling_box.show_sampling(pr.conversation_sampling(settings, self._base_sampling))
            context = pr.conversation_context(settings, default_context)
            self.load_box.fill_context(context, pr.KEY_CONTEXT in settings, default_context)
            self._fill_presets()
        finally:
            self._binding = False
        self._prompt_dirty = False
        self._update_preset_hint()

    def set_model(self, model_name: str, chat_format: str, status: str, needs_reload: bool) -> None:
        """The model this chat uses: its chosen chat format, what is loaded, and whether the
        chosen context size or format differ from it."""
        self.load_box.set_model(model_name, chat_format, status, needs_reload)
        self.needs_reload = needs_reload

    def set_advanced_visible(self, visible: bool) -> None:
        self.advanced.setVisible(visible)
        self.advanced_button.setChecked(visible)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if visible else Qt.ArrowType.RightArrow)

    def _fill_presets(self) -> None:
        combo = self.preset_combo
        combo.clear()
        current = pr.find_preset(self._preset_name, self._presets) if self._preset_name else None
        if current is None:
            combo.addItem(translate("conversation_settings", "Custom"), "")
        user_started = False
        for preset in self._presets:
            if not preset.built_in and not user_started:
                user_started = True
                combo.insertSeparator(combo.count())
            label = (
                pr.shown_name(preset)
                if preset.built_in
                else translate("conversation_settings", "{preset}  (yours)").format(preset=preset.name)
            )
            combo.addItem(label, preset.name)
            if not preset.built_in:
                combo.setItemData(
                    combo.count() - 1,
                    translate("conversation_settings", "Your own preset"),
                    Qt.ItemDataRole.ToolTipRole,
                )
            else:
                description = pr.shown_description(preset)
                combo.setItemData(combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(max(0, combo.findData(current.name if current else "")))

    # ---- values -------------------------------------------------------------------------
    def system_prompt(self) -> str:
        return self.prompt_edit.toPlainText()

    def sampling(self) -> SamplingParams:
        return self.sampling_box.sampling()

    def context_size(self) -> int | None:
        return self.load_box.context_size()

    def current_preset(self) -> pr.Preset | None:
        return pr.find_preset(self._preset_name, self._presets) if self._preset_name else None

    def is_modified(self) -> bool:
        """Whether the prompt or sampling differ from the chosen preset's."""
        preset = self.current_preset()
        if preset is None:
            return False
        wanted = pr.sampling_from_dict(pr.sampling_overrides(preset.sampling), self._base_sampling)
        return self.system_prompt() != preset.system_prompt or self.sampling() != wanted

    # ---- edits --------------------------------------------------------------------------
    def _queue(self, updates: dict[str, Any], *, now: bool = False) -> None:
        self._pending.update(updates)
        if now:
            self.flush()
        else:
            self._save_timer.start()

    def flush(self) -> None:
        """Report edits not reported yet (the window calls this before an answer starts)."""
        self._save_timer.stop()
        if not self._pending and not self._prompt_dirty:
            return
        updates, self._pending = self._pending, {}
        self._prompt_dirty = False
        self.edited.emit(self.system_prompt(), updates)

    def _on_prompt_changed(self) -> None:
        if self._binding:
            return
        self._prompt_dirty = True
        self._save_timer.start()
        self._update_preset_hint()

    def _on_sampling_changed(self) -> None:
        if self._binding:
            return
        self._queue({pr.KEY_SAMPLING: pr.sampling_overrides(self.sampling())})
        self._update_preset_hint()

    def _on_context_chosen(self) -> None:
        self._queue({pr.KEY_CONTEXT: self.context_size()}, now=True)

    def _on_preset_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name:
            self.choose_preset(str(name))

    def choose_preset(self, name: str) -> None:
        """Use a preset: its instructions and sampling replace this chat's."""
        preset = pr.find_preset(name, self._presets)
        if preset is None:
            return
        self._binding = True
        try:
            self._preset_name = preset.name
            self.prompt_edit.setPlainText(preset.system_prompt)
            self.sampling_box.show_sampling(
                pr.sampling_from_dict(pr.sampling_overrides(preset.sampling), self._base_sampling)
            )
            self._fill_presets()
        finally:
            self._binding = False
        self._prompt_dirty = True
        self._queue(pr.preset_settings(preset), now=True)
        self._update_preset_hint()

    def reset_to_preset(self) -> None:
        preset = self.current_preset()
        if preset is not None:
            self.choose_preset(preset.name)

    def _ask_preset_name(self) -> None:
        suggestion = self._preset_name if self.current_preset() and not self._is_built_in_current() else ""
        name, ok = QInputDialog.getText(
            self,
            translate("conversation_settings", "Save as preset"),
            translate("conversation_settings", "Name for this preset:"),
            text=suggestion,
        )
        if ok and name.strip():
            self.save_preset_as(name)

    def _is_built_in_current(self) -> bool:
        preset = self.current_preset()
        return preset is not None and preset.built_in

    def save_preset_as(self, name: str) -> str:
        """Save the current instructions and sampling as the user's own preset; returns ""
        or the reason it could not be saved (also shown under the preset box)."""
        sampling = self.sampling()
        try:
            preset = pr.save_user_preset(pr.Preset(name, self.system_prompt(), sampling, "Your preset"))
        except (ValueError, OSError) as exc:
            self.preset_hint.setText(
                translate("conversation_settings", "Not saved: {reason}").format(reason=exc)
            )
            return str(exc)
        self._presets = pr.all_presets()
        self._preset_name = preset.name
        self._fill_presets()
        self._queue({pr.KEY_PRESET: preset.name}, now=True)
        self._update_preset_hint()
        self.preset_hint.setText(
            translate(
                "conversation_settings", "Saved as “{preset}”. It is in the list for every chat."
            ).format(preset=preset.name)
        )
        return ""

    def delete_current_preset(self) -> None:
        preset = self.current_preset()
        if preset is None or preset.built_in:
            return
        pr.delete_user_preset(preset.name)
        self._presets = pr.all_presets()
        self._preset_name = ""
        self._fill_presets()
        self._queue({pr.KEY_PRESET: None}, now=True)
        self._update_preset_hint()

    def _update_preset_hint(self) -> None:
        preset = self.current_preset()
        self.delete_preset_button.setVisible(preset is not None and not preset.built_in)
        self.reset_button.setEnabled(preset is not None and self.is_modified())
        if preset is None:
            self.preset_hint.setText(
                translate("conversation_settings", "Your own instructions and settings.")
            )
        elif self.is_modified():
            self.preset_hint.setText(
                translate(
                    "conversation_settings",
                    "Changed from “{preset}”. <a href='reset'>Reset</a> or save it as your own preset.",
                ).format(preset=pr.shown_name(preset))
            )
        else:
            self.preset_hint.setText(
                pr.shown_description(preset) or translate("conversation_settings", "Your own preset.")
            )

    def preset_values(self) -> dict[str, Any]:
        """For tests and diagnostics: what the panel shows, as plain values."""
        return {
            "preset": self._preset_name,
            "system_prompt": self.system_prompt(),
            "sampling": dataclasses.asdict(self.sampling()),
            "context_size": self.context_size(),
        }
