"""The Documents page's tree of a collection's folders and files, with each file's status in
plain words ("Indexed", "Skipped: unsupported format (.png)", "Could not read: the PDF is
password-protected"). Pure presentation: the data was read on a worker."""

from __future__ import annotations

import os
from collections.abc import Set
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from app.core.i18n import translate, translate_noop

ROOT_ROLE = Qt.ItemDataRole.UserRole  # the root path on top-level items
COL_NAME, COL_STATUS, COL_DETAILS = 0, 1, 2

_COLORS = {
    "indexed": "#2e7d32",
    "partial": "#8a6d00",
    "error": "#c62828",
    "skipped": "#8a6d00",
    "waiting": "#666666",
}
_TITLES = {
    "indexed": translate_noop("documents_files", "Indexed"),
    "error": translate_noop("documents_files", "Could not read"),
    "skipped": translate_noop("documents_files", "Skipped"),
}
PARTLY_INDEXED = translate_noop("documents_files", "Partly indexed")


def sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."


def file_status(record: Any) -> tuple[str, str, str]:
    """(kind, status title, details) for one FileRecord."""
    kind = record.status if record.status in _TITLES else "error"
    if kind == "indexed":
        parts = []
        if record.n_pages:
            parts.append(translate("documents_files", "%n pages", n=record.n_pages))
        parts.append(translate("documents_files", "%n passages", n=record.n_chunks))
        if record.error:  # indexed up to a limit, or without a part (an attachment): say which
            partly = translate("documents_files", PARTLY_INDEXED)
            return "partial", partly, f"{', '.join(parts)}; {sentence(record.error)}"
        return kind, translate("documents_files", _TITLES[kind]), ", ".join(parts)
    return kind, translate("documents_files", _TITLES[kind]), sentence(record.error or "")


def _summary(counts: dict[str, int]) -> str:
    parts = []
    if counts.get("indexed"):
        parts.append(translate("documents_files", "%n indexed", n=counts["indexed"]))
    if counts.get("partial"):
        parts.append(translate("documents_files", "%n partly indexed", n=counts["partial"]))
    if counts.get("error"):
        parts.append(translate("documents_files", "%n could not be read", n=counts["error"]))
    if counts.get("skipped"):
        parts.append(translate("documents_files", "%n skipped", n=counts["skipped"]))
    return ", ".join(parts) or translate("documents_files", "Not indexed yet")


def _paint(item: QTreeWidgetItem, kind: str) -> None:
    item.setForeground(COL_STATUS, QBrush(QColor(_COLORS.get(kind, "#666666"))))


class FilesTree(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentsFiles")
        self.setHeaderLabels(
            [
                translate("documents_files", "Name"),
                translate("documents_files", "Status"),
                translate("documents_files", "Details"),
            ]
        )
        self.setColumnCount(3)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setRootIsDecorated(True)
        header = self.header()
        header.setStretchLastSection(True)
        header.resizeSection(COL_NAME, 300)
        header.resizeSection(COL_STATUS, 120)

    def show_files(self, roots: list[str], files: dict[str, Any], missing: Set[str]) -> None:
        """Roots as top-level rows (a folder with its files under it, or a single file)."""
        tops = [self.topLevelItem(i) for i in range(self.topLevelItemCount())]
        expanded = {t.data(COL_NAME, ROOT_ROLE) for t in tops if t is not None and t.isExpanded()}
        first_fill = self.topLevelItemCount() == 0
        self.clear()
        for root in roots:
            top = QTreeWidgetItem([Path(root).name or root])
            top.setData(COL_NAME, ROOT_ROLE, root)
            top.setToolTip(COL_NAME, root)
            if root in files:  # a file added on its own
                kind, title, details = file_status(files[root])
                top.setText(COL_STATUS, title)
                top.setText(COL_DETAILS, details)
                _paint(top, kind)
            else:
                prefix = root.rstrip(os.sep) + os.sep
                counts: dict[str, int] = {}
                children = sorted(p for p in files if p.startswith(prefix))
                for path in children:
                    kind, title, details = file_status(files[path])
                    counts[kind] = counts.get(kind, 0) + 1
                    child = QTreeWidgetItem([path[len(prefix) :], title, details])
                    child.setToolTip(COL_NAME, path)
                    child.setToolTip(COL_DETAILS, details)
                    _paint(child, kind)
                    top.addChild(child)
                top.setText(COL_STATUS, translate("documents_files", "Folder"))
                not_yet = translate("documents_files", "Not indexed yet")
                top.setText(COL_DETAILS, _summary(counts) if children else not_yet)
                if root in missing:
                    gone = translate("documents_files", "Not found (moved, deleted or unplugged?)")
                    top.setText(COL_DETAILS, gone)
                    _paint(top, "error")
            self.addTopLevelItem(top)
            top.setExpanded(first_fill or root in expanded)

    def selected_roots(self) -> list[str]:
        return [
            str(item.data(COL_NAME, ROOT_ROLE))
            for item in self.selectedItems()
            if item.parent() is None
        ]

    def row(self, name: str) -> QTreeWidgetItem | None:
        """The row whose name (file name or relative path) is `name`, for tests and scripts."""
        matches = self.findItems(name, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return matches[0] if matches else None
