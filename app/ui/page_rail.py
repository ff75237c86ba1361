"""The window's pages: a rail of buttons on the left (Chat, and the pages other areas add) and
the chosen page beside it. Pages are named by key, not by position, so an area can add its page
and show it later without knowing what else is on the rail. Split out of main_window.py by job;
MainWindow.add_page, show_page and current_page hand over to it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.i18n import translate


class PageRail(QWidget):
    """The window's central widget: the rail (QFrame#navRail) and a stack of pages."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.rail = QFrame()
        self.rail.setObjectName("navRail")
        self._rail_layout = QVBoxLayout(self.rail)
        self._rail_layout.setContentsMargins(6, 10, 6, 10)
        self._rail_layout.setSpacing(4)
        self._rail_layout.addStretch(1)  # buttons go above it, so they sit at the top
        self._rail_buttons = QButtonGroup(self)
        self._rail_buttons.setExclusive(True)
        self.pages = QStackedWidget()
        self.page_index: dict[str, int] = {}
        layout.addWidget(self.rail)
        layout.addWidget(self.pages, 1)

    def add_page(self, key: str, title: str, widget: QWidget) -> None:
        """Add a page and its button; the first page added is the one shown at start."""
        button = QToolButton()
        button.setObjectName("navButton")
        button.setText(title)
        button.setCheckable(True)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # Tab reaches the rail too
        button.clicked.connect(lambda: self.show_page(key))
        number = len(self.page_index) + 1
        if number <= 9:
            # Ctrl+1 Chat, Ctrl+2 Discover…: every page by keyboard, and the tooltip says so.
            keys = QKeySequence(f"Ctrl+{number}")
            QShortcut(keys, self, context=Qt.ShortcutContext.WindowShortcut).activated.connect(
                lambda: self.show_page(key)
            )
            button.setToolTip(
                translate("page_rail", "{page} ({shortcut})").format(
                    page=title, shortcut=keys.toString(QKeySequence.SequenceFormat.NativeText)
                )
            )
        self._rail_buttons.addButton(button)
        self._rail_layout.insertWidget(self._rail_layout.count() - 1, button)
        self.page_index[key] = self.pages.addWidget(widget)
        if len(self.page_index) == 1:
            button.setChecked(True)

    def show_page(self, key: str) -> None:
        index = self.page_index[key]
        self.pages.setCurrentIndex(index)
        self._rail_buttons.buttons()[index].setChecked(True)

    def current_page(self) -> str:
        index = self.pages.currentIndex()
        return next(k for k, i in self.page_index.items() if i == index)
