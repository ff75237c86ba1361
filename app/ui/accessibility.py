"""Screen readers and contrast: the few helpers every page shares.

- `announce`: a finished answer (or a failure) is read out once, politely, through Qt's
  announcement event (AT-SPI / UI Automation / NSAccessibility). While an answer streams, its
  text only grows inside a widget that does not have focus, which screen readers do not read
  token by token; the announcement at the end is what the user hears.
- `contrast_ratio`: WCAG 2.x contrast between two colours (AA wants 4.5 for normal text).
"""

from __future__ import annotations

from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent, QColor
from PySide6.QtWidgets import QWidget

MAX_ANNOUNCED_CHARS = 2_000  # a screen reader reads it all; a whole essay is too much at once
AA_NORMAL_TEXT = 4.5


def announce(widget: QWidget, message: str) -> None:
    """Have screen readers read `message` once, without taking focus from what the user does."""
    message = message.strip()
    if not message:
        return
    if len(message) > MAX_ANNOUNCED_CHARS:
        message = message[:MAX_ANNOUNCED_CHARS].rsplit(" ", 1)[0] + " …"
    event = QAccessibleAnnouncementEvent(widget, message)
    event.setPoliteness(QAccessible.AnnouncementPoliteness.Polite)
    QAccessible.updateAccessibility(event)


def _luminance(color: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast_ratio(foreground: QColor, background: QColor) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
