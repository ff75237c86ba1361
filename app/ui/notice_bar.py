"""An inline message strip (info, warning, error) with optional action buttons: errors in plain
words without a modal dialog that blocks the conversation."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from app.core.i18n import translate


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(self.label.textInteractionFlags())
        layout.addWidget(self.label, 1)
        self._buttons: list[QPushButton] = []
        self._layout = layout
        close = QToolButton()
        close.setText("✕")
        close.setToolTip(translate("notice_bar", "Dismiss"))
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self._close = close
        self.hide()

    def show_message(
        self,
        text: str,
        level: str = "info",
        actions: list[tuple[str, Callable[[], None]]] | None = None,
        details: str = "",
    ) -> None:
        for button in self._buttons:
            button.deleteLater()
        self._buttons.clear()
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(text)
        self.label.setToolTip(details)
        for title, callback in actions or []:
            button = QPushButton(title)
            button.clicked.connect(callback)
            self._layout.insertWidget(self._layout.count() - 1, button)
            self._buttons.append(button)
        self.show()

    @property
    def text(self) -> str:
        return self.label.text()

    def action_titles(self) -> list[str]:
        return [b.text() for b in self._buttons]

    def trigger(self, title: str) -> None:
        for button in self._buttons:
            if button.text() == title:
                button.click()
                return
        raise KeyError(title)
