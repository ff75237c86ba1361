"""A small window with the chat settings open: the conversation list steps aside.

The chat page is the conversation list, the chat and (when open) the chat settings drawer side by
side. Below a width where the three cannot all be comfortable, the list folds away while the
drawer is open, so the answers keep a readable width; it comes back when the drawer closes or
the window grows (with the width it had).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QSplitter, QWidget

CHAT_MIN_PX = 380  # the chat column below which the list folds away (the drawer being open)


class NarrowWindow(QObject):
    def __init__(self, splitter: QSplitter, sidebar: QWidget) -> None:
        super().__init__(splitter)
        self.splitter = splitter
        self.sidebar = sidebar
        self.drawer: QWidget | None = None
        self.drawer_open = False
        self.folded = False
        self._sidebar_width = 240
        splitter.installEventFilter(self)

    def set_drawer_open(self, drawer_open: bool, drawer: QWidget | None) -> None:
        self.drawer_open = drawer_open and drawer is not None
        self.drawer = drawer
        # At once, before the layout takes the drawer in: the window never grows to make room.
        self.update()

    def update(self) -> None:
        # With the drawer open the list never holds the window wide: a window made small in one
        # step (snapped, restored) gets there, and the list folds away on the way.
        self.sidebar.setMinimumWidth(1 if self.drawer_open else 0)
        width = self.splitter.width()
        sidebar = max(self._sidebar_width, self.sidebar.minimumSizeHint().width())
        drawer = self.drawer.sizeHint().width() if self.drawer is not None else 0
        fold = self.drawer_open and width < sidebar + CHAT_MIN_PX + drawer
        if fold == self.folded:
            return
        sizes = self.splitter.sizes()
        if fold:
            if sizes and sizes[0] > 0:
                self._sidebar_width = sizes[0]
            # Hidden, not squeezed to nothing: a hidden list does not hold the window wider.
            self.sidebar.hide()
        else:
            self.sidebar.show()
            self.splitter.setSizes([self._sidebar_width, max(0, sum(sizes) - self._sidebar_width)])
        self.folded = fold

    def unfold(self) -> None:
        """The list back at its width now (before the window saves its layout)."""
        self.drawer_open = False
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.splitter and event.type() == QEvent.Type.Resize:
            self.update()
        return False
