"""Chat settings: a drawer on the right of the chat, bound to the conversation on screen.

The common things are on top (a preset, the instructions the assistant follows); sampling,
context size and chat format sit under "Advanced". The panel knows nothing about the store:
it shows what `bind()` gives it and reports edits with `edited(system_prompt, updates)`, where
updates are keys to merge into the conversation's settings (None removes a key); the window
saves them to the conversation, or keeps them for a new chat until its first message.
Context size and chat format take effect when the model is loaded again ("Apply & reload").
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat import presets as pr
from app.core.engine.protocol import SamplingParams
from app.core.i18n import translate

EDIT_DELAY_MS = 300  # typing in the prompt is saved this long after the last key
PANEL_WIDTH = 340
PANEL_MIN_WIDTH = 270  # for a moment, while a small window folds the conversation list away


def context_label(tokens: int) -> str:
    from app.core.plain_words import context_words

    return context_words(tokens)


def _combo(name: str) -> QComboBox:
    """A combo box that fits the drawer's width, whatever its longest item."""
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)
    return combo


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
        self._default_context = 8192
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
        self.scope_label = QLabel()
        self.scope_label.setObjectName("settingsHint")
        self.scope_label.setWordWrap(True)
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

        layout.addWidget(self._section(translate("conversation_settings", "Preset")))
        self.preset_combo = _combo("presetCombo")
        self.preset_combo.setToolTip(
            translate("conversation_settings", "Ready-made instructions and settings for common jobs")
        )
        self.preset_combo.activated.connect(self._on_preset_activated)
        layout.addWidget(self.preset_combo)
        self.preset_hint = QLabel()
        self.preset_hint.setObjectName("settingsHint")
        self.preset_hint.setWordWrap(True)
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
        layout.addWidget(self._section(translate("conversation_settings", "Instructions for the assistant")))
        explain = QLabel(
            translate(
                "conversation_settings",
                "The assistant reads these before every answer in this chat (the “system prompt”).",
            )
        )
        explain.setObjectName("settingsHint")
        explain.setWordWrap(True)
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

    @staticmethod
    def _section(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("settingsSection")
        return label

    def _build_advanced(self, holder: QWidget) -> None:
        layout = QVBoxLayout(holder)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self._section(translate("conversation_settings", "How it writes")))
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        def double(low: float, high: float, step: float, decimals: int, tip: str) -> QDoubleSpinBox:
            box = QDoubleSpinBox()
            box.setRange(low, high)
            box.setSingleStep(step)
            box.setDecimals(decimals)
            box.setToolTip(tip)
            box.valueChanged.connect(self._on_sampling_changed)
            return box

        def integer(low: int, high: int, step: int, tip: str) -> QSpinBox:
            box = QSpinBox()
            box.setRange(low, high)
            box.setSingleStep(step)
            box.setGroupSeparatorShown(True)
            box.setToolTip(tip)
            box.valueChanged.connect(self._on_sampling_changed)
            return box

        self.temperature = double(
            0.0,
            2.0,
            0.05,
            2,
            translate(
                "conversation_settings",
                "Higher: more varied and creative. Lower: steadier and more predictable.",
            ),
        )
        self.top_p = double(
            0.0,
            1.0,
            0.05,
            2,
            translate(
                "conversation_settings", "Top-p: only the most likely words that add up to this share."
            ),
        )
        self.top_k = integer(
            0,
            1000,
            5,
            translate(
                "conversation_settings", "Top-k: choose among this many most likely words (0: no limit)."
            ),
        )
        self.min_p = double(
            0.0,
            1.0,
            0.01,
            2,
            translate("conversation_settings", "Min-p: leave out words far less likely than the best one."),
        )
        self.repeat_penalty = double(
            0.5,
            2.0,
            0.05,
            2,
            translate("conversation_settings", "Above 1 discourages repeating the same words."),
        )
        self.max_tokens = integer(
            1,
            131072,
            64,
            translate("conversation_settings", "The longest answer, in tokens (a token is about ¾ word)."),
        )
        self.seed = QLineEdit()
        self.seed.setObjectName("seedEdit")
        self.seed.setPlaceholderText(translate("conversation_settings", "Random"))
        self.seed.setValidator(QIntValidator(0, 2**31 - 1, self.seed))
        self.seed.setToolTip(
            translate(
                "conversation_settings",
                "The same seed, question and settings give the same answer. Empty: random.",
            )
        )
        self.seed.textChanged.connect(self._on_sampling_changed)
        form.addRow(translate("conversation_settings", "Creativity (temperature)"), self.temperature)
        form.addRow(translate("conversation_settings", "Top-p"), self.top_p)
        form.addRow(translate("conversation_settings", "Top-k"), self.top_k)
        form.addRow(translate("conversation_settings", "Min-p"), self.min_p)
        form.addRow(translate("conversation_settings", "Repetition penalty"), self.repeat_penalty)
        form.addRow(translate("conversation_settings", "Longest answer (tokens)"), self.max_tokens)
        form.addRow(translate("conversation_settings", "Seed"), self.seed)
        layout.addLayout(form)
        self.reset_button = QPushButton(translate("conversation_settings", "Reset to the preset"))
        self.reset_button.clicked.connect(self.reset_to_preset)
        reset_row = QHBoxLayout()
        reset_row.addStretch(1)
        reset_row.addWidget(self.reset_button)
        layout.addLayout(reset_row)

        layout.addSpacing(8)
        layout.addWidget(self._section(translate("conversation_settings", "Model memory and format")))
        note = QLabel(translate("conversation_settings", "These apply when the model is loaded again."))
        note.setObjectName("settingsHint")
        note.setWordWrap(True)
        layout.addWidget(note)
        model_form = QFormLayout()
        model_form.setContentsMargins(0, 0, 0, 0)
        model_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        model_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.context_combo = _combo("contextCombo")
        self.context_combo.setToolTip(
            translate(
                "conversation_settings",
                "How much of the conversation the model can keep in mind. Bigger needs more memory; "
                "Enclave lowers it if it does not fit this computer.",
            )
        )
        self.context_combo.activated.connect(self._on_context_activated)
        model_form.addRow(translate("conversation_settings", "Context size"), self.context_combo)
        self.format_combo = _combo("chatFormatCombo")
        self.format_combo.setToolTip(
            translate(
                "conversation_settings",
                "How the conversation is written for the model. Automatic uses the template inside "
                "the model file; choose another only if answers look garbled. Saved for this model.",
            )
        )
        self.format_combo.addItem(
            translate("conversation_settings", "Automatic (from the model)"), pr.CHAT_FORMAT_AUTOMATIC
        )
        for name in pr.CHAT_FORMATS:
            self.format_combo.addItem(name, name)
        self.format_combo.activated.connect(self._on_format_activated)
        model_form.addRow(translate("conversation_settings", "Chat format"), self.format_combo)
        layout.addLayout(model_form)
        self.model_status = QLabel()
        self.model_status.setObjectName("settingsHint")
        self.model_status.setWordWrap(True)
        layout.addWidget(self.model_status)
        self.reload_button = QPushButton(translate("conversation_settings", "Apply && reload"))
        self.reload_button.setObjectName("applyReloadButton")
        self.reload_button.setToolTip(
            translate(
                "conversation_settings", "Load the model again with these settings (takes a few seconds)"
            )
        )
        self.reload_button.clicked.connect(self.reloadRequested)
        reload_row = QHBoxLayout()
        reload_row.addStretch(1)
        reload_row.addWidget(self.reload_button)
        layout.addLayout(reload_row)

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
            self._default_context = default_context
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
            self._show_sampling(pr.conversation_sampling(settings, self._base_sampling))
            self._fill_context(pr.conversation_context(settings, default_context), pr.KEY_CONTEXT in settings)
            self._fill_presets()
        finally:
            self._binding = False
        self._prompt_dirty = False
        self._update_preset_hint()

    def set_model(self, model_name: str, chat_format: str, status: str, needs_reload: bool) -> None:
        """The model this chat uses: its chosen chat format, what is loaded, and whether the
        chosen context size or format differ from it."""
        index = max(0, self.format_combo.findData(chat_format))
        self.format_combo.setCurrentIndex(index)
        self.format_combo.setEnabled(bool(model_name))
        self.model_status.setText(status)
        self.reload_button.setEnabled(bool(model_name))
        self.reload_button.setProperty("attention", needs_reload)
        self.reload_button.style().unpolish(self.reload_button)
        self.reload_button.style().polish(self.reload_button)
        self.needs_reload = needs_reload

    def set_advanced_visible(self, visible: bool) -> None:
        self.advanced.setVisible(visible)
        self.advanced_button.setChecked(visible)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if visible else Qt.ArrowType.RightArrow)

    def _show_sampling(self, sampling: SamplingParams) -> None:
        self.temperature.setValue(sampling.temperature)
        self.top_p.setValue(sampling.top_p)
        self.top_k.setValue(sampling.top_k)
        self.min_p.setValue(sampling.min_p)
        self.repeat_penalty.setValue(sampling.repeat_penalty)
        self.max_tokens.setValue(sampling.max_tokens)
        self.seed.setText("" if sampling.seed is None else str(sampling.seed))

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

    def _fill_context(self, tokens: int, explicit: bool) -> None:
        combo = self.context_combo
        combo.clear()
        combo.addItem(
            translate("conversation_settings", "Default: {context}").format(
                context=context_label(self._default_context)
            ),
            0,
        )
        choices = list(pr.CONTEXT_CHOICES)
        if explicit and tokens not in choices:
            choices = sorted([*choices, tokens])
        for choice in choices:
            combo.addItem(context_label(choice), choice)
        combo.setCurrentIndex(combo.findData(tokens) if explicit else 0)

    # ---- values -------------------------------------------------------------------------
    def system_prompt(self) -> str:
        return self.prompt_edit.toPlainText()

    def sampling(self) -> SamplingParams:
        seed_text = self.seed.text().strip()
        return SamplingParams(
            temperature=round(self.temperature.value(), 3),
            top_p=round(self.top_p.value(), 3),
            top_k=self.top_k.value(),
            min_p=round(self.min_p.value(), 3),
            repeat_penalty=round(self.repeat_penalty.value(), 3),
            max_tokens=self.max_tokens.value(),
            seed=int(seed_text) if seed_text.isdigit() else None,
        )

    def context_size(self) -> int | None:
        value = self.context_combo.currentData()
        return int(value) if value else None

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

    def _on_sampling_changed(self, *_args: Any) -> None:
        if self._binding:
            return
        self._queue({pr.KEY_SAMPLING: pr.sampling_overrides(self.sampling())})
        self._update_preset_hint()

    def _on_context_activated(self, _index: int) -> None:
        self._queue({pr.KEY_CONTEXT: self.context_size()}, now=True)

    def _on_format_activated(self, _index: int) -> None:
        self.chatFormatChosen.emit(str(self.format_combo.currentData() or ""))

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
            self._show_sampling(
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
