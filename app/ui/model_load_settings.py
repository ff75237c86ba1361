"""Model memory and format: a chat's context size and the model's chat format, in the chat
settings drawer. Both only take effect when the model is loaded again, so this section also
says what is loaded now and offers "Apply & reload".

It holds no state of its own beyond what is on screen: the drawer fills it (`fill_context`,
`set_model`) and hears the user's choices through the signals.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from app.core.chat import presets as pr
from app.core.i18n import translate
from app.ui.drawer_parts import fitting_combo, hint_label, section_label


def context_label(tokens: int) -> str:
    from app.core.plain_words import context_words

    return context_words(tokens)


class ModelLoadSettings(QWidget):
    contextChosen = Signal()  # the user picked a context size; read it with context_size()
    formatChosen = Signal(str)  # for the current model; "" = automatic
    reloadRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(section_label(translate("model_load_settings", "Model memory and format")))
        note = translate("model_load_settings", "These apply when the model is loaded again.")
        layout.addWidget(hint_label(note))
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.context_combo = fitting_combo("contextCombo")
        self.context_combo.setToolTip(
            translate(
                "model_load_settings",
                "How much of the conversation the model can keep in mind. Bigger needs more memory; "
                "Enclave lowers it if it does not fit this computer.",
            )
        )
        self.context_combo.activated.connect(lambda _index: self.contextChosen.emit())
        form.addRow(translate("model_load_settings", "Context size"), self.context_combo)
        self.format_combo = fitting_combo("chatFormatCombo")
        self.format_combo.setToolTip(
            translate(
                "model_load_settings",
                "How the conversation is written for the model. Automatic uses the template inside "
                "the model file; choose another only if answers look garbled. Saved for this model.",
            )
        )
        self.format_combo.addItem(
            translate("model_load_settings", "Automatic (from the model)"), pr.CHAT_FORMAT_AUTOMATIC
        )
        for name in pr.CHAT_FORMATS:
            self.format_combo.addItem(name, name)
        self.format_combo.activated.connect(
            lambda _index: self.formatChosen.emit(str(self.format_combo.currentData() or ""))
        )
        form.addRow(translate("model_load_settings", "Chat format"), self.format_combo)
        layout.addLayout(form)
        self.model_status = hint_label()
        layout.addWidget(self.model_status)
        self.reload_button = QPushButton(translate("model_load_settings", "Apply && reload"))
        self.reload_button.setObjectName("applyReloadButton")
        self.reload_button.setToolTip(
            translate("model_load_settings", "Load the model again with these settings (takes a few seconds)")
        )
        self.reload_button.clicked.connect(self.reloadRequested)
        reload_row = QHBoxLayout()
        reload_row.addStretch(1)
        reload_row.addWidget(self.reload_button)
        layout.addLayout(reload_row)

    def fill_context(self, tokens: int, explicit: bool, default_context: int) -> None:
        """The choices, with the chat's own size among them; "Default" when it chose none."""
        combo = self.context_combo
        combo.clear()
        combo.addItem(
            translate("model_load_settings", "Default: {context}").format(
                context=context_label(default_context)
            ),
            0,
        )
        choices = list(pr.CONTEXT_CHOICES)
        if explicit and tokens not in choices:
            choices = sorted([*choices, tokens])
        for choice in choices:
            combo.addItem(context_label(choice), choice)
        combo.setCurrentIndex(combo.findData(tokens) if explicit else 0)

    def context_size(self) -> int | None:
        value = self.context_combo.currentData()
        return int(value) if value else None

    def set_model(self, model_name: str, chat_format: str, status: str, needs_reload: bool) -> None:
        index = max(0, self.format_combo.findData(chat_format))
        self.format_combo.setCurrentIndex(index)
        self.format_combo.setEnabled(bool(model_name))
        self.model_status.setText(status)
        self.reload_button.setEnabled(bool(model_name))
        # The "attention" property turns the button's colour on in style.qss: re-polish to show it.
        self.reload_button.setProperty("attention", needs_reload)
        self.reload_button.style().unpolish(self.reload_button)
        self.reload_button.style().polish(self.reload_button)
