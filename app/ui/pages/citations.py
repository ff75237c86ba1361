"""The sources under an answer: "[1] report.pdf p. 3" links. Clicking one opens the file in the
system's viewer; "Show passage" shows the text the answer was based on, in a small dialog.

PDF pages: on Windows, Qt hands a file URL with a fragment to the shell as a URL, and the
default PDF handlers there (Edge, Chrome, Acrobat in a browser) honour "#page=N". On Linux,
xdg-open takes "file.pdf#page=3" for a file name that does not exist, and macOS Preview ignores
it, so there the file opens at its first page.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from app.core.documents.chat_context import SourceRef

PAGE_FRAGMENT_PLATFORMS = ("win32",)


def as_source(raw: SourceRef | Mapping[str, Any]) -> SourceRef:
    """A SourceRef from itself or from its dict (as kept in a message's stats)."""
    if isinstance(raw, Mapping):
        from app.core.documents.chat_context import SourceRef

        return SourceRef.from_dict(raw)
    return raw


def source_url(file: str, page: int | None, platform: str = sys.platform) -> QUrl:
    url = QUrl.fromLocalFile(file)
    if page and file.lower().endswith(".pdf") and platform in PAGE_FRAGMENT_PLATFORMS:
        url.setFragment(f"page={page}")
    return url


def open_source(source: SourceRef) -> bool:
    """Open the source's file in the system viewer; False when it is gone or nothing opened."""
    if not Path(source.file).exists():
        return False
    return bool(QDesktopServices.openUrl(source_url(source.file, source.page)))


def cited_first(sources: Sequence[SourceRef], answer: str | None) -> list[SourceRef]:
    """The sources the answer cites, or all of them when it cites none (mirrors
    prompting.citation_lines: the user should still see what the answer was based on)."""
    import re

    cited = {int(n) for n in re.findall(r"\[(\d{1,3})\]", answer or "")}
    chosen = [s for s in sources if s.number in cited]
    return chosen or list(sources)


class PassageDialog(QDialog):
    def __init__(self, source: SourceRef, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("passageDialog")
        self.setWindowTitle(f"[{source.number}] {source.label}")
        self.resize(560, 380)
        self.source = source
        where = QLabel(f"From <b>{html.escape(source.label)}</b>")
        where.setToolTip(source.file)
        self.text = QTextBrowser()
        self.text.setPlainText(source.passage)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open file", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setEnabled(Path(source.file).exists())
        self.open_button.clicked.connect(lambda: open_source(source))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)


class CitationsView(QFrame):
    """Put it under an answer: `CitationsView(sources, answer_text)`."""

    opened = Signal(object)  # SourceRef, after its file was handed to the system viewer
    missing = Signal(object)  # SourceRef whose file is gone

    def __init__(
        self,
        sources: Sequence[SourceRef | Mapping[str, Any]],
        answer: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("citations")
        self.sources = cited_first([as_source(s) for s in sources], answer)
        self.links: list[QLabel] = []
        self.passage_buttons: list[QPushButton] = []
        self.dialog: PassageDialog | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        title = QLabel("Sources")
        title.setObjectName("citationsTitle")
        layout.addWidget(title)
        for source in self.sources:
            row = QHBoxLayout()
            link = QLabel(
                f'<a href="{source.number}">[{source.number}] {html.escape(source.label)}</a>'
            )
            link.setObjectName("citationLink")
            link.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                         | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
            link.setToolTip(f"Open {source.file}")
            link.linkActivated.connect(lambda _href, s=source: self.open(s))
            passage = QPushButton("Show passage")
            passage.setObjectName("showPassageButton")
            passage.setFlat(True)
            passage.setCursor(Qt.CursorShape.PointingHandCursor)
            passage.clicked.connect(lambda _checked=False, s=source: self.show_passage(s))
            row.addWidget(link)
            row.addWidget(passage)
            row.addStretch(1)
            layout.addLayout(row)
            self.links.append(link)
            self.passage_buttons.append(passage)
        self.setVisible(bool(self.sources))

    def open(self, source: SourceRef) -> None:
        if open_source(source):
            self.opened.emit(source)
        else:  # moved or deleted since: the passage is all we still have
            self.missing.emit(source)
            self.show_passage(source)

    def show_passage(self, source: SourceRef) -> PassageDialog:
        self.dialog = PassageDialog(source, self)
        self.dialog.show()
        return self.dialog
