"""Discover's two lists: the starter catalog (with each model's fit and predicted speed here,
and a Download button) and the Hugging Face search results (more load as the user scrolls).
The page (discover.py) fills them and answers their signals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QPushButton, QTreeWidget, QTreeWidgetItem

from app.core.i18n import translate, translate_noop
from app.ui.pages.model_page import repo_title
from app.ui.pages.models_common import fit_label, format_bytes, format_count, format_when
from app.ui.speed_label import HEADER as SPEED_HEADER
from app.ui.speed_label import show_prediction

if TYPE_CHECKING:
    from app.core.catalog import CatalogEntry
    from app.core.fit import Fit
    from app.core.hub import ModelSummary

RESULT_COLUMNS = [
    translate_noop("discover_lists", "Model"),
    translate_noop("discover_lists", "Author"),
    translate_noop("discover_lists", "Downloads"),
    translate_noop("discover_lists", "Likes"),
    translate_noop("discover_lists", "Updated"),
    translate_noop("discover_lists", "License"),
    translate_noop("discover_lists", "Access"),
]
CATALOG_COLUMNS = [
    translate_noop("discover_lists", "Starter model"),
    translate_noop("discover_lists", "Size"),
    translate_noop("discover_lists", "Good for"),
    translate_noop("discover_lists", "On this computer"),
    SPEED_HEADER,
    "",
]
SPEED_COLUMN, BUTTON_COLUMN = 4, 5

def _catalog_columns() -> list[str]:
    """The starter list's headings in the chosen language (the speed one is speed_label's)."""
    texts = [translate("discover_lists", text) if text else "" for text in CATALOG_COLUMNS]
    texts[SPEED_COLUMN] = translate("speed_label", SPEED_HEADER)
    return texts


class CatalogList(QTreeWidget):
    """The curated starter models, each with its fit verdict and a Download button."""

    openRequested = Signal(str)  # repo_id
    downloadRequested = Signal(object)  # CatalogEntry

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("catalogList")
        self.setAccessibleName(translate("discover_lists", "Recommended models"))
        self.setColumnCount(len(CATALOG_COLUMNS))
        self.setHeaderLabels(_catalog_columns())
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        header = self.header()
        header.setStretchLastSection(False)
        for column, mode in enumerate(
            [QHeaderView.ResizeMode.ResizeToContents] * 2
            + [QHeaderView.ResizeMode.Stretch]
            + [QHeaderView.ResizeMode.ResizeToContents] * 3
        ):
            header.setSectionResizeMode(column, mode)
        self.entries: list[CatalogEntry] = []
        self.items: list[QTreeWidgetItem] = []
        self.buttons: list[QPushButton] = []
        self.itemActivated.connect(self._open)
        self.itemClicked.connect(self._open)

    def set_entries(self, entries: list[CatalogEntry]) -> None:
        self.clear()
        self.buttons.clear()
        self.entries = entries
        self.items = []
        for entry in entries:
            item = QTreeWidgetItem(
                [
                    f"{entry.name}  ({entry.params})",
                    format_bytes(entry.size_bytes),
                    translate("catalog_json", entry.good_for),
                    translate("discover_lists", "Checking…"),
                    translate("discover_lists", "Checking…"),
                    "",
                ]
            )
            item.setToolTip(
                0,
                translate("discover_lists", "{model} — click to see its files and description").format(
                    model=entry.repo_id
                ),
            )
            item.setToolTip(2, translate("catalog_json", entry.good_for))
            self.addTopLevelItem(item)
            self.items.append(item)
            button = QPushButton(translate("discover_lists", "Download"))
            button.setToolTip(
                translate("discover_lists", "Download {file} ({size})").format(
                    file=entry.filename, size=format_bytes(entry.size_bytes)
                )
            )
            button.clicked.connect(lambda _=False, e=entry: self.downloadRequested.emit(e))
            self.setItemWidget(item, BUTTON_COLUMN, button)
            self.buttons.append(button)

    def set_fits(self, fits: list[Fit]) -> None:
        for item, fit in zip(self.items, fits, strict=False):
            text, _level = fit_label(fit)
            item.setText(3, text)
            item.setToolTip(3, fit.summary)

    def set_speeds(self, speeds: list[Any], known: bool = True) -> None:
        """Predicted speed here per entry (None: too large, or this machine not measured)."""
        for item, prediction in zip(self.items, speeds, strict=False):
            if prediction is None:
                item.setText(SPEED_COLUMN, "—" if known else translate("discover_lists", "Unknown"))
                why = (
                    translate("discover_lists", "Too large for this computer.")
                    if known
                    else translate("discover_lists", "This computer's speed is not known.")
                )
                item.setToolTip(SPEED_COLUMN, why)
            else:
                show_prediction(item, SPEED_COLUMN, prediction)

    def set_downloads_enabled(self, enabled: bool, why: str = "") -> None:
        for button in self.buttons:
            button.setEnabled(enabled)
            if why:
                button.setToolTip(why)

    def _open(self, item: QTreeWidgetItem, column: int = 0) -> None:
        if column == BUTTON_COLUMN:
            return
        index = self.indexOfTopLevelItem(item)
        if 0 <= index < len(self.entries):
            self.openRequested.emit(self.entries[index].repo_id)


class ResultsList(QTreeWidget):
    """Search results; asks for more when scrolled near the end."""

    openRequested = Signal(str)
    nearEnd = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("resultsList")
        self.setAccessibleName(translate("discover_lists", "Search results"))
        self.setColumnCount(len(RESULT_COLUMNS))
        self.setHeaderLabels([translate("discover_lists", text) for text in RESULT_COLUMNS])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(RESULT_COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.verticalScrollBar().valueChanged.connect(self.check_end)
        self.verticalScrollBar().rangeChanged.connect(lambda *_: self.check_end())
        self.itemActivated.connect(lambda item, _c: self.openRequested.emit(item.data(0, 256)))
        self.itemClicked.connect(lambda item, _c: self.openRequested.emit(item.data(0, 256)))

    def add_models(self, models: list[ModelSummary]) -> None:
        for model in models:
            # "Qwen2.5 7B Instruct", not "…-GGUF": every model here is one (the tooltip has the id).
            name = repo_title(model.repo_id)
            if model.gated:
                access = translate("discover_lists", "Accept license first")
            else:
                access = translate("discover_lists", "Open")
            item = QTreeWidgetItem(
                [
                    name,
                    model.author,
                    format_count(model.downloads),
                    format_count(model.likes),
                    format_when(model.last_modified),
                    model.license or "—",
                    access,
                ]
            )
            item.setData(0, 256, model.repo_id)
            tip = translate("discover_lists", "{model} — click to see its files").format(model=model.repo_id)
            item.setToolTip(0, tip)
            if model.gated:
                gated = translate(
                    "discover_lists", "You must accept this model's license on Hugging Face first"
                )
                item.setToolTip(6, gated)
            for column in (2, 3):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
            self.addTopLevelItem(item)

    def check_end(self) -> None:
        bar = self.verticalScrollBar()
        if bar.maximum() == 0 or bar.value() >= bar.maximum() - 3 * bar.singleStep():
            self.nearEnd.emit()
