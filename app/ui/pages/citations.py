"""The sources under an answer: "[1] report.pdf p. 3" links. Clicking one opens the file in the
system's viewer; "Show passage" shows the text the answer was based on, in a small dialog;
"Summarise" asks for a summary of the whole file. The title says how much of the documents the
answer read ("Used 8 passages from 3 documents"), and "Use more passages" asks again with more.

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
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.i18n import translate

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


def group_by_file(sources: Sequence[SourceRef]) -> list[list[SourceRef]]:
    """Sources of the same file together, in the order their first one comes (one row each:
    ten passages of one manual page are one source to a person, not ten)."""
    groups: dict[str, list[SourceRef]] = {}
    for source in sources:
        groups.setdefault(source.file, []).append(source)
    return list(groups.values())


def group_label(group: Sequence[SourceRef]) -> str:
    """"[1] report.pdf p. 3" for one passage; "[1] [4] report.pdf: p. 3, p. 7" for several,
    each place named once."""
    numbers = " ".join(f"[{s.number}]" for s in group)
    if len(group) == 1:
        return f"{numbers} {group[0].label}"
    name = Path(group[0].file).name
    places: list[str] = []
    for source in group:
        place = source.label[len(name) :].lstrip(" -") if source.label.startswith(name) else source.label
        if place and place not in places:
            places.append(place)
    return f"{numbers} {name}" + (": " + ", ".join(places) if places else "")


class PassageDialog(QDialog):
    def __init__(self, sources: Sequence[SourceRef], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        source = sources[0]
        self.setObjectName("passageDialog")
        self.setWindowTitle(group_label(sources))
        self.resize(560, 380)
        self.source = source
        from_file = translate("citations", "From <b>{file}</b>")
        where = QLabel(from_file.format(file=html.escape(Path(source.file).name)))
        where.setToolTip(source.file)
        self.text = QTextBrowser()
        # Plain text, so the passage keeps its own line breaks and indentation (code, tables).
        self.text.setPlainText(
            "\n\n".join(
                (f"[{s.number}] {s.label}\n" if len(sources) > 1 else "") + s.passage for s in sources
            )
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton(
            translate("citations", "Open file"), QDialogButtonBox.ButtonRole.ActionRole
        )
        self.open_button.setEnabled(Path(source.file).exists())
        self.open_button.clicked.connect(self._open)
        self.open_note = QLabel()
        self.open_note.setWordWrap(True)
        self.open_note.hide()
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.open_note)
        layout.addWidget(buttons)

    def _open(self) -> None:
        if not open_source(self.source):
            self.open_note.setText(cannot_open_text(self.source))
            self.open_note.show()


def cannot_open_text(source: SourceRef) -> str:
    name = Path(source.file).name
    if not Path(source.file).exists():
        return translate("citations", "{file} is no longer at {path} (moved or deleted?).").format(
            file=name, path=source.file
        )
    return translate(
        "citations",
        "No program on this computer could open {file}. The passage the answer used is shown here.",
    ).format(file=name)


class CitationsView(QFrame):
    """Put it under an answer: `CitationsView(sources, answer_text)`. One row per file."""

    opened = Signal(object)  # SourceRef, after its file was handed to the system viewer
    missing = Signal(object)  # SourceRef whose file is gone
    unopenable = Signal(object)  # SourceRef whose file is there, but no program opened it
    moreRequested = Signal()  # "Use more passages": ask the same question with more of them
    summariseRequested = Signal(str)  # "Summarise": the whole file (its path)

    def __init__(
        self,
        sources: Sequence[SourceRef | Mapping[str, Any]],
        answer: str | None = None,
        parent: QWidget | None = None,
        *,
        can_use_more: bool = False,
        can_summarise: bool = False,
    ) -> None:
        """can_use_more: offer "Use more passages"; can_summarise: a "Summarise" button on
        each file (the owner connects the signals to the chat session)."""
        super().__init__(parent)
        self.setObjectName("citations")
        given = [as_source(s) for s in sources]
        self.sources = cited_first(given, answer)
        self.groups = group_by_file(self.sources)
        self.links: list[QLabel] = []
        self.passage_buttons: list[QPushButton] = []
        self.summarise_buttons: list[QPushButton] = []
        self.dialog: PassageDialog | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        header = QHBoxLayout()
        # What the answer read: every passage it was given, not only those it cites.
        title = QLabel(used_text(len(given), len({s.file for s in given})))
        title.setObjectName("citationsTitle")
        title.setWordWrap(True)  # a narrow window: it wraps beside "Use more passages"
        header.addWidget(title)
        self.more_button = QPushButton(translate("citations", "Use more passages"))
        self.more_button.setObjectName("morePassagesButton")
        self.more_button.setFlat(True)
        self.more_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.more_button.setToolTip(
            translate(
                "citations",
                "Answer the same question again, reading about twice as many passages from your "
                "documents. The answer you have now is kept as an earlier version.",
            )
        )
        self.more_button.clicked.connect(self.moreRequested.emit)
        self.more_button.setVisible(can_use_more)
        header.addWidget(self.more_button)
        header.addStretch(1)
        layout.addLayout(header)
        for group in self.groups:
            row = QHBoxLayout()
            first = group[0]
            link = QLabel(f'<a href="{first.number}">{html.escape(group_label(group))}</a>')
            link.setObjectName("citationLink")
            link.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                         | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
            link.setToolTip(translate("citations", "Open {path}").format(path=first.file))
            link.setWordWrap(True)  # a long file name wraps in a narrow window; the button stays whole
            link.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
            link.linkActivated.connect(lambda _href, s=first: self.open(s))
            if len(group) > 1:
                passage = QPushButton(translate("citations", "Show passages"))
            else:
                passage = QPushButton(translate("citations", "Show passage"))
            passage.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            passage.setObjectName("showPassageButton")
            passage.setFlat(True)
            passage.setCursor(Qt.CursorShape.PointingHandCursor)
            passage.clicked.connect(lambda _checked=False, g=group: self.show_passage(g))
            row.addWidget(link)
            row.addWidget(passage, 0, Qt.AlignmentFlag.AlignTop)
            if can_summarise:
                summarise = QPushButton(translate("citations", "Summarise"))
                summarise.setObjectName("summariseButton")
                summarise.setFlat(True)
                summarise.setCursor(Qt.CursorShape.PointingHandCursor)
                read_all = translate("citations", "Read all of {file} and summarise it")
                summarise.setToolTip(read_all.format(file=Path(first.file).name))
                summarise.setEnabled(Path(first.file).exists())
                summarise.clicked.connect(
                    lambda _checked=False, f=first.file: self.summariseRequested.emit(f)
                )
                row.addWidget(summarise)
                self.summarise_buttons.append(summarise)
            row.addStretch(1)
            layout.addLayout(row)
            self.links.append(link)
            self.passage_buttons.append(passage)
        self.setVisible(bool(self.sources))

    def open(self, source: SourceRef) -> None:
        if open_source(source):
            self.opened.emit(source)
            return
        # The passage is what we can still show: the file is gone, or nothing could open it.
        (self.missing if not Path(source.file).exists() else self.unopenable).emit(source)
        group = next((g for g in self.groups if source in g), [source])
        self.show_passage(group)

    def show_passage(self, group: SourceRef | Sequence[SourceRef]) -> PassageDialog:
        sources = [group] if not isinstance(group, Sequence) else list(group)
        self.dialog = PassageDialog(sources, self)
        self.dialog.show()
        return self.dialog


def used_text(passages: int, files: int) -> str:
    """"Used 8 passages from 3 documents": how much of the documents the answer read."""
    documents = translate("citations", "%n documents", n=files)
    return translate("citations", "Used %n passages from {documents}", n=passages).format(documents=documents)
