"""Library: every model on this computer (ours and other apps'), and every model the user ever
opened or added, wherever it is, with where it comes from, its size, when it was last used and
whether it runs well here. Actions: chat with it, show it in its folder, delete it (Enclave's
own files only, after asking), add a model file or a folder, remove a file the user opened or
added from the list (a missing one says so plainly).

The folder scan and the fit verdicts (which read GGUF headers) run on workers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.cancel import CancelToken
from app.core.i18n import number, translate, translate_noop
from app.core.library import SOURCE_LABELS, LocalModel
from app.ui.notice_bar import NoticeBar
from app.ui.pages.models_common import fit_label, format_bytes, format_when, with_hardware
from app.ui.speed_label import HEADER as SPEED_HEADER
from app.ui.speed_label import SpeedColumn
from app.ui.tasks import ProgressFn, TaskHandle, run_task

if TYPE_CHECKING:
    from app.core.fit import Fit
    from app.ui.main_window import MainWindow

log = logging.getLogger("enclave.ui.library")

COLUMNS = [
    translate_noop("library", "Model"),
    translate_noop("library", "From"),
    translate_noop("library", "Size"),
    translate_noop("library", "Last used"),
    translate_noop("library", "On this computer"),
    SPEED_HEADER,
]
SPEED_COLUMN = 5
EMPTY_TEXT = translate_noop(
    "library", "No models yet — get one in Discover, or add a model file you already have."
)
MISSING_TEXT = translate_noop("library", "Missing: no longer at this place")
MISSING_TIP = translate_noop(
    "library", "{path} is no longer there (moved or deleted?). Remove it from the list, or put it back."
)
OTHER_APP_TIP = translate_noop(
    "library", "This file belongs to {app}; Enclave uses it where it is and never deletes it."
)


NOT_ALLOWED_TEXT = translate_noop("library", "Not allowed by your organisation")
ORGANISATION_TIP = translate_noop(
    "library", "Your organisation shares this model; Enclave uses it where it is and never deletes it."
)


def _columns() -> list[str]:
    """The list's column headings in the chosen language (the speed one is speed_label's)."""
    return [translate("library", text) for text in COLUMNS[:SPEED_COLUMN]] + [
        translate("speed_label", SPEED_HEADER)
    ]


def _source_label(source: str) -> str:
    """Where a model comes from, in words (app.core.library's SOURCE_LABELS, translated)."""
    label = SOURCE_LABELS.get(source)
    return translate("library", label) if label is not None else source


def _policy_refusal(model: LocalModel) -> str | None:
    """The organisation's sentence when allowed_models refuses this model (the window's load
    refuses it too), else None."""
    from app.core.policy_rules import model_refusal

    return model_refusal(model.path, model.repo_id, roots=[])


class LibraryPage(QWidget):
    discoverRequested = Signal()
    scanned = Signal()  # the list was refreshed (tests, screenshots)

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("libraryPage")
        self.window_ = window
        self.models: list[LocalModel] = []
        self.fits: dict[str, Fit] = {}
        self.items: list[QTreeWidgetItem] = []
        self._scan: TaskHandle | None = None
        self._fit_task: TaskHandle | None = None
        self._dirty = True
        self._select_after_scan: Path | None = None  # a file just added: selected once listed
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(8)
        top = QHBoxLayout()
        title = QLabel(translate("library", "Your models"))
        title.setObjectName("modelsTitle")
        top.addWidget(title)
        top.addStretch(1)
        self.add_file_button = QPushButton(translate("library", "Add a model file…"))
        self.add_file_button.setToolTip(
            translate("library", "Keep a model file you already have in this list (it stays where it is)")
        )
        self.add_file_button.clicked.connect(self.choose_model_file)
        top.addWidget(self.add_file_button)
        self.add_folder_button = QPushButton(translate("library", "Add a folder…"))
        self.add_folder_button.setToolTip(translate("library", "Also list every model in a folder of yours"))
        self.add_folder_button.clicked.connect(self.choose_folder)
        top.addWidget(self.add_folder_button)
        self.refresh_button = QPushButton(translate("library", "Refresh"))
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)
        self.subtitle = QLabel(
            translate("library", "Models on this computer: Enclave's own and other apps'.")
        )
        self.subtitle.setObjectName("modelsHint")
        self.subtitle.setWordWrap(True)
        layout.addWidget(self.subtitle)
        self.notice = NoticeBar()
        layout.addWidget(self.notice)

        self.stack = QStackedWidget()
        self.tree = QTreeWidget()
        self.tree.setObjectName("libraryList")
        self.tree.setAccessibleName(translate("library", "Models on this computer"))
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(_columns())
        self.speeds = SpeedColumn(self.tree, SPEED_COLUMN)  # predicted speed of each model here
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.tree.currentItemChanged.connect(lambda *_: self._update_actions())
        # Enter or a double-click (the platform's "activate") opens the chosen model in the chat.
        self.tree.itemActivated.connect(lambda *_: self.chat_with_selected())
        self.tree.setAccessibleDescription(
            translate("library", "Press Enter or double-click a model to chat with it")
        )
        self.stack.addWidget(self.tree)

        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch(1)
        self.empty_label = QLabel(translate("library", EMPTY_TEXT))
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        empty_layout.addWidget(self.empty_label)
        go = QPushButton(translate("library", "Go to Discover"))
        go.setObjectName("modelsPrimary")
        go.clicked.connect(self.discoverRequested)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(go)
        row.addStretch(1)
        empty_layout.addLayout(row)
        empty_layout.addStretch(2)
        self.stack.addWidget(empty)
        layout.addWidget(self.stack, 1)

        self.action_bar = QWidget()
        actions = QHBoxLayout(self.action_bar)
        actions.setContentsMargins(0, 0, 0, 0)
        self.chat_button = QPushButton(translate("library", "Chat with this model"))
        self.chat_button.setObjectName("modelsPrimary")
        self.chat_button.clicked.connect(self.chat_with_selected)
        self.folder_button = QPushButton(translate("library", "Show in folder"))
        self.folder_button.clicked.connect(self.show_selected_in_folder)
        self.delete_button = QPushButton(translate("library", "Delete…"))
        self.delete_button.setObjectName("deleteButton")
        self.delete_button.clicked.connect(self.delete_selected)
        self.remove_button = QPushButton(translate("library", "Remove from list"))
        self.remove_button.setToolTip(
            translate("library", "Take this model off the list; its file is not touched")
        )
        self.remove_button.clicked.connect(self.remove_selected)
        actions.addWidget(self.chat_button)
        actions.addWidget(self.folder_button)
        actions.addStretch(1)
        actions.addWidget(self.remove_button)
        actions.addWidget(self.delete_button)
        layout.addWidget(self.action_bar)
        self._update_actions()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def mark_dirty(self) -> None:
        """Something changed on disk (a finished download, new settings): rescan when seen."""
        self._dirty = True
        if self.isVisible():
            self.refresh()

    # -- scanning ------------------------------------------------------------------------
    def refresh(self) -> None:
        self._dirty = False
        if self._scan is not None and self._scan.running:
            self._dirty = True  # scan again when this one ends
            return
        settings = self.window_.settings
        self.subtitle.setText(translate("library", "Looking for models…"))

        def scan(_progress: ProgressFn, _cancel: CancelToken) -> list[LocalModel]:
            from app.core.library import scan_library

            return scan_library(settings)

        self._scan = run_task(scan, name="library-scan", on_result=self._scanned, on_error=self._scan_failed)

    def _scan_failed(self, exc: Exception) -> None:
        self.subtitle.setText("")
        self.notice.show_message(
            translate("library", "Enclave could not list your models: {error}").format(error=exc), "error"
        )

    def _scanned(self, models: list[LocalModel]) -> None:
        models = sorted(models, key=lambda m: (m.source != "enclave", -(m.last_used or 0), m.name.lower()))
        selected = self.selected()
        self.models = models
        self.tree.clear()
        self.speeds.reset()
        self.items = [self._item(model) for model in models]
        self.tree.addTopLevelItems(self.items)
        self.stack.setCurrentIndex(0 if models else 1)
        self.action_bar.setVisible(bool(models))
        ours = sum(1 for m in models if m.source == "enclave")
        present = [m for m in models if not m.missing]
        total = format_bytes(sum(m.size for m in present))
        gone = len(models) - len(present)
        if models:
            subtitle = translate(
                "library",
                "%n models on this computer ({size}); {downloaded} downloaded with Enclave. "
                "Double-click one to chat with it.",
                n=len(present),
            ).format(size=total, downloaded=number(ours))
            if gone:
                missing = translate("library", "{missing} no longer found.").format(missing=number(gone))
                subtitle += " " + missing
        else:
            subtitle = translate("library", "Models you download, open or add appear here.")
        self.subtitle.setText(subtitle)
        wanted = self._select_after_scan or (selected.path if selected else None)
        self._select_after_scan = None
        keep = next((i for i, m in enumerate(models) if wanted and m.path == wanted), 0)
        if models:
            self.tree.setCurrentItem(self.items[keep])
        self._update_actions()
        self.scanned.emit()
        if self._dirty:
            self.refresh()
            return
        self._judge(models)

    def _item(self, model: LocalModel) -> QTreeWidgetItem:
        from app.core.model_names import display_name
        from app.core.plain_words import quality_of, quant_in_name

        source = _source_label(model.source)
        # "Qwen2.5 7B Instruct · Quality: good"; the file, its publisher and place in the tooltip.
        quality = quality_of(quant_in_name(model.name))
        name = display_name(model.name) + (
            "  ·  " + translate("library", "Quality: {quality}").format(quality=quality) if quality else ""
        )
        publisher = (
            translate("library", "from {publisher}").format(publisher=model.repo_id) if model.repo_id else ""
        )
        tip = "\n".join(x for x in (model.name, publisher, str(model.path)) if x)
        fit = self.fits.get(model.key)
        item = QTreeWidgetItem(
            [
                name,
                source,
                "—" if model.missing else format_bytes(model.size),
                format_when(model.last_used) if model.last_used else translate("library", "never"),
                translate("library", MISSING_TEXT) if model.missing else fit_label(fit)[0],
            ]
        )
        item.setToolTip(0, tip)
        if model.missing:
            tip = translate("library", MISSING_TIP).format(path=model.path)
            for column in range(len(COLUMNS)):
                item.setToolTip(column, tip)
                item.setForeground(column, self.palette().placeholderText())
        elif fit is not None:
            item.setToolTip(4, fit.summary)
        refusal = _policy_refusal(model)
        if fit is not None and not model.missing and not refusal:
            self.speeds.for_path(item, model.path, fit)
        if refusal and not model.missing:  # the organisation's allowed_models: listed, not usable
            item.setText(4, translate("library", NOT_ALLOWED_TEXT))
            for column in range(len(COLUMNS)):
                item.setToolTip(column, refusal)
                item.setForeground(column, self.palette().placeholderText())
        return item

    def _judge(self, models: list[LocalModel]) -> None:
        todo = [m for m in models if m.key not in self.fits and not m.missing]
        if not todo:
            return
        wanted_ctx = self.window_.settings.default_context

        def start(hardware: Any) -> None:
            def judge(progress: ProgressFn, cancel: CancelToken) -> None:
                from app.core.fit import UNKNOWN

                for model in todo:
                    if cancel.cancelled:
                        return
                    fit = model.fit(hardware, wanted_ctx) if hardware is not None else UNKNOWN
                    progress((model.key, fit))

            self._fit_task = run_task(judge, name="library-fit", on_progress=self._got_fit)

        with_hardware(self.window_, start)

    def _got_fit(self, result: tuple[str, Fit]) -> None:
        key, fit = result
        self.fits[key] = fit
        for model, item in zip(self.models, self.items, strict=True):
            if model.key == key:
                if model.missing:
                    continue  # judged before the file went away: it stays "Missing"
                if _policy_refusal(model):
                    continue  # it stays "Not allowed by your organisation", whatever it would do here
                item.setText(4, fit_label(fit)[0])
                item.setToolTip(4, fit.summary)
                self.speeds.for_path(item, model.path, fit)

    # -- actions -------------------------------------------------------------------------
    def selected(self) -> LocalModel | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        index = self.tree.indexOfTopLevelItem(item)
        return self.models[index] if 0 <= index < len(self.models) else None

    def select_path(self, path: Path) -> bool:
        for model, item in zip(self.models, self.items, strict=True):
            if model.path == path or model.path.resolve() == path.resolve():
                self.tree.setCurrentItem(item)
                return True
        return False

    def _update_actions(self) -> None:
        model = self.selected()
        for button in (self.chat_button, self.folder_button, self.delete_button):
            button.setEnabled(model is not None and not model.missing)
        # Remove for what the user opened or added; Delete for Enclave's own files.
        self.remove_button.setVisible(model is not None and model.removable)
        self.delete_button.setVisible(model is None or not model.removable)
        refusal = _policy_refusal(model) if model is not None else None
        if model is not None and model.missing:
            self.chat_button.setToolTip(translate("library", MISSING_TIP).format(path=model.path))
        elif refusal:
            self.chat_button.setEnabled(False)
            self.chat_button.setToolTip(refusal)
        else:
            self.chat_button.setToolTip("")
        if model is not None and not model.deletable:
            label = _source_label(model.source)
            self.delete_button.setEnabled(False)
            self.delete_button.setToolTip(
                translate("library", ORGANISATION_TIP)
                if model.source == "organisation"
                else translate("library", OTHER_APP_TIP).format(app=label)
            )
        else:
            self.delete_button.setToolTip(translate("library", "Delete this model's file from your computer"))

    def chat_with_selected(self) -> None:
        model = self.selected()
        if model is None or model.missing:
            return
        path = model.path
        # Loading it records it as used (ModelsArea remembers every model that loads).
        model.last_used = time.time()
        self._dirty = True
        self.window_.show_page("chat")
        self.window_.open_model(path)

    # -- adding and removing -------------------------------------------------------------
    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            translate("library", "Add a model file"),
            str(Path.home()),
            translate("library", "Model files (*.gguf);;All files (*)"),
        )
        if path:
            self.add_model_file(Path(path))

    def add_model_file(self, path: Path) -> None:
        """Keep the file in the list (checked and written on a worker), then show it selected."""
        from app.core.library import add_model_file

        def added() -> None:
            added_text = translate("library", "{file} is in your Library.").format(file=path.name)
            self.notice.show_message(added_text, "info")
            self._select_after_scan = path
            self.refresh()

        self._change_list("library-add", lambda: add_model_file(path), added)

    def _change_list(self, name: str, change: Callable[[], None], then: Callable[[], None]) -> None:
        """Write a change to the remembered list on a worker (library.json), then `then` on the
        GUI thread; a refusal or a write error is said in the notice bar."""
        run_task(
            lambda _progress, _cancel: change(),
            name=name,
            on_result=lambda _result: then(),
            on_error=lambda exc: self.notice.show_message(str(exc), "error"),
        )

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, translate("library", "Add a folder of models"), str(Path.home())
        )
        if folder:
            self.add_folder(Path(folder))

    def add_folder(self, folder: Path) -> None:
        """List every model in this folder too (Settings' extra folders; a change rescans)."""
        folders = list(self.window_.settings.extra_model_dirs)
        if str(folder) not in folders:
            self.window_.settings_store.update(extra_model_dirs=[*folders, str(folder)])
        listed = translate("library", "Models in {folder} are listed here from now on.").format(folder=folder)
        self.notice.show_message(listed, "info")
        self.mark_dirty()

    def remove_selected(self) -> None:
        model = self.selected()
        if model is None or not model.removable:
            return
        path = model.path
        from app.core.library import forget_model

        def done() -> None:
            text = translate("library", "{file} is off the list (the file was not touched).")
            self.notice.show_message(text.format(file=path.name), "info")
            self.refresh()

        self._change_list("library-forget", lambda: forget_model(path), done)

    def show_selected_in_folder(self) -> None:
        model = self.selected()
        if model is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(model.path.parent)))

    def delete_selected(self) -> None:
        model = self.selected()
        if model is None or not model.deletable:
            return
        answer = QMessageBox.question(
            self,
            translate("library", "Delete this model?"),
            translate(
                "library",
                "Delete {model} ({size}) from this computer?\n\n"
                "You can download it again later from Discover.",
            ).format(model=model.name, size=format_bytes(model.size)),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        loaded = self.window_.model_path if self.window_.service.local.is_ready else None
        if loaded is not None and loaded in (model.path, *model.parts):
            self.notice.show_message(
                translate(
                    "library", "This model is open in the chat. Unload it first (Chat page), then delete it."
                ),
                "warning",
            )
            return
        settings = self.window_.settings

        def delete(_progress: ProgressFn, _cancel: CancelToken) -> None:
            from app.core.library import delete_model

            delete_model(model, settings)

        def done(_result: object) -> None:
            self.fits.pop(model.key, None)
            deleted = translate("library", "{model} was deleted.").format(model=model.name)
            self.notice.show_message(deleted, "info")
            self.refresh()

        run_task(
            delete,
            name="delete-model",
            on_result=done,
            on_error=lambda exc: self.notice.show_message(str(exc), "error"),
        )
