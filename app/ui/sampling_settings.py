"""How the assistant writes: the sampling parameters of a chat (temperature, top-p, top-k,
min-p, repetition penalty, longest answer, seed), shown and edited in the chat settings drawer.

`show_sampling()` puts values on screen without a signal; `changed` fires only for the user's
edits, so the drawer saves what the user did and not what a preset or a binding filled in.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from app.core.engine.protocol import SamplingParams
from app.core.i18n import translate
from app.ui.drawer_parts import section_label


class SamplingSettings(QWidget):
    changed = Signal()  # the user edited a value; read them with sampling()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._showing = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(section_label(translate("sampling_settings", "How it writes")))
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.temperature = self._double(
            0.0,
            2.0,
            0.05,
            translate(
                "sampling_settings",
                "Higher: more varied and creative. Lower: steadier and more predictable.",
            ),
        )
        self.top_p = self._double(
            0.0,
            1.0,
            0.05,
            translate("sampling_settings", "Top-p: only the most likely words that add up to this share."),
        )
        self.top_k = self._integer(
            0,
            1000,
            5,
            translate("sampling_settings", "Top-k: choose among this many most likely words (0: no limit)."),
        )
        self.min_p = self._double(
            0.0,
            1.0,
            0.01,
            translate("sampling_settings", "Min-p: leave out words far less likely than the best one."),
        )
        self.repeat_penalty = self._double(
            0.5, 2.0, 0.05, translate("sampling_settings", "Above 1 discourages repeating the same words.")
        )
        self.max_tokens = self._integer(
            1,
            131072,
            64,
            translate("sampling_settings", "The longest answer, in tokens (a token is about ¾ word)."),
        )
        self.seed = QLineEdit()
        self.seed.setObjectName("seedEdit")
        self.seed.setPlaceholderText(translate("sampling_settings", "Random"))
        self.seed.setValidator(QIntValidator(0, 2**31 - 1, self.seed))
        self.seed.setToolTip(
            translate(
                "sampling_settings",
                "The same seed, question and settings give the same answer. Empty: random.",
            )
        )
        self.seed.textChanged.connect(self._on_edit)
        form.addRow(translate("sampling_settings", "Creativity (temperature)"), self.temperature)
        form.addRow(translate("sampling_settings", "Top-p"), self.top_p)
        form.addRow(translate("sampling_settings", "Top-k"), self.top_k)
        form.addRow(translate("sampling_settings", "Min-p"), self.min_p)
        form.addRow(translate("sampling_settings", "Repetition penalty"), self.repeat_penalty)
        form.addRow(translate("sampling_settings", "Longest answer (tokens)"), self.max_tokens)
        form.addRow(translate("sampling_settings", "Seed"), self.seed)
        layout.addLayout(form)

    def _double(self, low: float, high: float, step: float, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setToolTip(tip)
        box.valueChanged.connect(self._on_edit)
        return box

    def _integer(self, low: int, high: int, step: int, tip: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setGroupSeparatorShown(True)
        box.setToolTip(tip)
        box.valueChanged.connect(self._on_edit)
        return box

    def show_sampling(self, sampling: SamplingParams) -> None:
        """Put these values on screen; not an edit, so `changed` stays quiet."""
        self._showing = True
        try:
            self.temperature.setValue(sampling.temperature)
            self.top_p.setValue(sampling.top_p)
            self.top_k.setValue(sampling.top_k)
            self.min_p.setValue(sampling.min_p)
            self.repeat_penalty.setValue(sampling.repeat_penalty)
            self.max_tokens.setValue(sampling.max_tokens)
            self.seed.setText("" if sampling.seed is None else str(sampling.seed))
        finally:
            self._showing = False

    def sampling(self) -> SamplingParams:
        # Rounded, so that values a preset gave compare equal to it (is the preset changed?).
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

    def _on_edit(self, *_args: Any) -> None:
        if not self._showing:
            self.changed.emit()
