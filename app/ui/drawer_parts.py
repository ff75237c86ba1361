"""The small pieces the chat settings drawer is made of, so its sections look alike.

The object names are what resources/style.qss styles (a bold section title, a grey hint) and
what tests look widgets up by; they must not change when a section moves to its own module.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel


def section_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("settingsSection")
    return label


def hint_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("settingsHint")
    label.setWordWrap(True)
    return label


def fitting_combo(name: str) -> QComboBox:
    """A combo box that fits the drawer's width, whatever its longest item."""
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)
    return combo
