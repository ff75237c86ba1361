"""Light and dark: Fusion everywhere, with a proper dark palette, following the OS by default.

Settings.theme is "system" (follow the OS, also when it changes while Enclave runs), "light" or
"dark". The style sheet (resources/style.qss) takes its colours from the palette; the few fixed
colours it has (notice bars, notes) get dark variants here, appended when the palette is dark.
Answers already on screen are drawn again so their code blocks match the new palette.
"""

from __future__ import annotations

import logging
import re

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from app.core import paths

log = logging.getLogger("enclave.ui.theme")

THEMES = ("system", "light", "dark")

# Fixed colours of style.qss that would be unreadable (or glaring) on a dark palette.
DARK_OVERRIDES = """
/* dark palette overrides (app/ui/theme.py) */
QFrame#noticeBar[level="error"] { background: #4a1f1c; }
QFrame#noticeBar[level="warning"] { background: #47330f; }
QFrame#noticeBar[level="info"] { background: #173248; }
QFrame#noticeBar QLabel { color: #f1f1f1; }
QFrame#indexingPanel { background: #173248; }
QFrame#indexingPanel QLabel { color: #cfe6fb; }
QLabel#documentsNote { background: #173248; color: #cfe6fb; }
QFrame#embeddingRecommendation[level="info"] { background: #173248; color: #cfe6fb; }
QFrame#embeddingRecommendation QLabel { color: #cfe6fb; }
QLabel#documentsNote[level="error"] { background: #4a1f1c; color: #ffdad6; }
QLabel#documentsNote[level="warning"] { background: #47330f; color: #ffddb3; }
QLabel#sidebarNotice[level="error"] { color: #f2b8b5; }
QLabel#embeddingLabel[level="warning"] { color: #ffb95c; }
QPushButton#dangerButton { color: #f2b8b5; }
QLabel#contextMeterNote { color: #ffb95c; }
QProgressBar#contextMeterBar[level="warning"]::chunk { background: #e0a040; }
"""


def dark_palette() -> QPalette:
    """A calm dark palette for Fusion (every role, disabled colours too)."""
    window = QColor(0x20, 0x22, 0x27)
    base = QColor(0x17, 0x19, 0x1D)
    alternate = QColor(0x2A, 0x2D, 0x34)
    text = QColor(0xE6, 0xE6, 0xE6)
    disabled = QColor(0x80, 0x80, 0x80)
    highlight = QColor(0x2F, 0x6A, 0xC0)  # white on it: 5.3:1 (WCAG AA)
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: alternate,
        QPalette.ColorRole.ToolTipBase: alternate,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(0x9A, 0x9E, 0xA6),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(0x2E, 0x31, 0x38),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(0xFF, 0x6B, 0x6B),
        QPalette.ColorRole.Light: QColor(0x45, 0x49, 0x52),
        QPalette.ColorRole.Midlight: QColor(0x38, 0x3C, 0x44),
        QPalette.ColorRole.Mid: QColor(0x3F, 0x43, 0x4B),
        QPalette.ColorRole.Dark: QColor(0x12, 0x13, 0x16),
        QPalette.ColorRole.Shadow: QColor(0, 0, 0),
        QPalette.ColorRole.Highlight: highlight,
        QPalette.ColorRole.HighlightedText: QColor(0xFF, 0xFF, 0xFF),
        QPalette.ColorRole.Link: QColor(0x7A, 0xB7, 0xFF),
        QPalette.ColorRole.LinkVisited: QColor(0xB3, 0x9D, 0xF5),
    }
    for role, color in roles.items():
        palette.setColor(role, color)
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.HighlightedText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Highlight, QColor(0x3A, 0x3D, 0x44))
    return palette


# The style sheet's sizes are written in px for a 13 px (about 10 pt) system font; they are
# turned into points relative to the font the OS gives the app, so the window follows the
# user's font size (Settings > Accessibility > larger text) instead of staying at 14 px.
SHEET_REFERENCE_PX = 13.0
_FONT_SIZE = re.compile(r"font-size:\s*(\d+(?:\.\d+)?)px")


def scale_font_sizes(sheet: str, base_point_size: float) -> str:
    """Every `font-size: Npx` of the sheet as points relative to `base_point_size`."""
    if base_point_size <= 0:
        return sheet

    def points(match: re.Match[str]) -> str:
        return f"font-size: {float(match.group(1)) / SHEET_REFERENCE_PX * base_point_size:.1f}pt"

    return _FONT_SIZE.sub(points, sheet)


def light_palette(standard: QPalette) -> QPalette:
    """Fusion's light palette with the colours that fall short of WCAG AA (4.5:1) darkened:
    white text on the selection, and grey hints."""
    palette = QPalette(standard)
    palette.setColor(QPalette.ColorRole.Highlight, QColor(0x1F, 0x65, 0xA8))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor(0xFF, 0xFF, 0xFF))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(0x5A, 0x5E, 0x66))
    return palette


def os_prefers_dark() -> bool:
    scheme = QGuiApplication.styleHints().colorScheme()
    return bool(scheme == Qt.ColorScheme.Dark)


def _base_style_sheet() -> str:
    style = paths.resources_dir() / "style.qss"
    try:
        return style.read_text(encoding="utf-8")
    except OSError:
        log.warning("style sheet %s not found", style)
        return ""


class ThemeManager(QObject):
    """Applies a theme and, for "system", follows the OS's light/dark switch."""

    changed = Signal(bool)  # dark?

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self.theme = "system"
        self.dark = False
        self._base_sheet = _base_style_sheet()
        self._fusion = False
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_os_scheme_changed)
        app.fontChanged.connect(self._on_font_changed)

    def apply(self, theme: str) -> None:
        self.theme = theme if theme in THEMES else "system"
        dark = os_prefers_dark() if self.theme == "system" else self.theme == "dark"
        if not self._fusion:  # once: setting a style again re-polishes every widget
            self.app.setStyle("Fusion")
            self._fusion = True
        if dark:
            self.app.setPalette(dark_palette())
        else:
            self.app.setPalette(light_palette(self.app.style().standardPalette()))
        # Set the sheet again: its palette() colours are resolved when it is applied.
        sheet = scale_font_sizes(self._base_sheet, self.app.font().pointSizeF())
        self.app.setStyleSheet(sheet + (DARK_OVERRIDES if dark else ""))
        changed = dark != self.dark
        self.dark = dark
        if changed:
            _redraw_answers()
            self.changed.emit(dark)

    def _on_font_changed(self, _font: object) -> None:
        """The OS font size changed (or the user picked larger text): the sheet's sizes follow."""
        self.apply(self.theme)

    def _on_os_scheme_changed(self, _scheme: object) -> None:
        if self.theme == "system":
            self.apply("system")


_manager: ThemeManager | None = None


def apply_theme(theme: str, app: QApplication | None = None) -> ThemeManager:
    """Apply Settings.theme to the application; call again when the user changes it."""
    global _manager
    app = app or QApplication.instance()  # type: ignore[assignment]
    assert isinstance(app, QApplication)
    if _manager is None or _manager.app is not app:
        _manager = ThemeManager(app)
    _manager.apply(theme)
    return _manager


def is_dark() -> bool:
    return QGuiApplication.palette().window().color().lightness() < 128


def _redraw_answers() -> None:
    """Markdown answers carry inline colours (code highlighting): render them again."""
    from app.ui.message_widget import MessageWidget

    for widget in QApplication.allWidgets():
        if isinstance(widget, MessageWidget) and widget.message.role == "assistant":
            widget.refresh()
