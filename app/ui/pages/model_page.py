"""One model from Hugging Face: its facts, its GGUF files grouped by quantization with a
"will it run here" verdict each (the best choice highlighted), a Download button per file,
and the model card. Every hub call runs on a worker; errors show in plain words."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.cancel import CancelToken
from app.ui.notice_bar import NoticeBar
from app.ui.pages.download_controller import DownloadController
from app.ui.pages.models_common import (
    fit_label,
    format_bytes,
    format_count,
    format_when,
    linkify,
    with_hardware,
)
from app.ui.tasks import ProgressFn, TaskHandle, run_task

if TYPE_CHECKING:
    from app.core.fit import Fit
    from app.core.hub import GGUFFile, ModelDetails
    from app.ui.main_window import MainWindow

_FRONT_MATTER = re.compile(r"\A\ufeff?---\s*\n.*?\n---\s*(?:\n|\Z)", re.DOTALL)
_LEVEL_COLORS = {"good": "#1b7f3b", "ok": "#8a6d00", "slow": "#8a5a00", "bad": "#b3261e"}
BEST_TEXT = "★ Best choice for this computer"
COLUMNS = ["File", "Size", "On this computer", ""]


def strip_front_matter(text: str) -> str:
    """A model card without its YAML header (license, tags...), ready for setMarkdown."""
    return _FRONT_MATTER.sub("", text, count=1).lstrip()


class ModelPage(QWidget):
    backRequested = Signal()
    settingsRequested = Signal()

    def __init__(self, window: MainWindow, downloads: DownloadController) -> None:
        super().__init__()
        self.setObjectName("modelPage")
        self.window_ = window
        self.downloads = downloads
        self.repo_id = ""
        self.details: ModelDetails | None = None
        self.fits: list[Fit] = []
        self.best: int | None = None
        self.file_items: dict[str, QTreeWidgetItem] = {}
        self.download_buttons: dict[str, QPushButton] = {}
        self._tasks: list[TaskHandle] = []
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 10)
        layout.setSpacing(8)
        top = QHBoxLayout()
        self.back_button = QPushButton("← Back to Discover")
        self.back_button.setObjectName("backButton")
        self.back_button.clicked.connect(self.backRequested)
        top.addWidget(self.back_button)
        top.addStretch(1)
        layout.addLayout(top)
        self.title = QLabel()
        self.title.setObjectName("pageTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title)
        self.facts = QLabel()
        self.facts.setObjectName("modelFacts")
        self.facts.setWordWrap(True)
        layout.addWidget(self.facts)
        self.notice = NoticeBar()
        self.notice.label.setOpenExternalLinks(True)
        self.notice.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(self.notice)
        self.hint = QLabel()
        self.hint.setObjectName("hintText")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)

        self.files = QTreeWidget()
        self.files.setObjectName("fileTree")
        self.files.setColumnCount(len(COLUMNS))
        self.files.setHeaderLabels(COLUMNS)
        self.files.setRootIsDecorated(True)
        self.files.setUniformRowHeights(True)
        self.files.setAlternatingRowColors(False)
        header = self.files.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.card = QTextBrowser()
        self.card.setObjectName("modelCard")
        self.card.setOpenExternalLinks(True)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.files)
        split.addWidget(self.card)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        layout.addWidget(split, 1)

    # -- loading -------------------------------------------------------------------------
    def open(self, repo_id: str, *, highlight: str = "") -> None:
        """Show `repo_id`; fetch its files and card on workers (nothing if offline)."""
        for handle in self._tasks:
            handle.cancel()
        self._tasks.clear()
        self.repo_id = repo_id
        self.details = None
        self.title.setText(repo_id)
        self.facts.setText("")
        self.notice.hide()
        self.hint.setText("Looking up the files on Hugging Face…")
        self.hint.show()
        self.files.clear()
        self.file_items.clear()
        self.download_buttons.clear()
        self.card.setMarkdown("")
        settings = self.window_.settings
        if settings.offline_mode:
            from app.core.hub import OfflineError

            self.hint.hide()
            self.notice.show_message(
                str(OfflineError()), "info", [("Open Settings", self.settingsRequested.emit)]
            )
            return
        self._highlight = highlight

        def fetch_files(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.hub import model_files

            return model_files(repo_id, settings=settings)

        def fetch_card(_progress: ProgressFn, _cancel: CancelToken) -> str:
            from app.core.hub import model_card

            return model_card(repo_id, settings=settings)

        self._tasks = [
            run_task(
                fetch_files,
                name="model-files",
                on_result=lambda details: self._got_details(repo_id, details),
                on_error=lambda exc: self._failed(repo_id, exc),
            ),
            run_task(
                fetch_card,
                name="model-card",
                on_result=lambda text: self._got_card(repo_id, text),
                on_error=lambda exc: self._card_failed(repo_id, exc),
            ),
        ]

    def _got_details(self, repo_id: str, details: ModelDetails) -> None:
        if repo_id != self.repo_id:
            return
        with_hardware(self.window_, lambda hw: self._judge(repo_id, details, hw))

    def _judge(self, repo_id: str, details: ModelDetails, hardware: Any) -> None:
        if repo_id != self.repo_id:
            return
        wanted_ctx = self.window_.settings.default_context

        def judge(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.fit import UNKNOWN, best_index, fit_for_size
            from app.core.secrets import has_token

            token = has_token() if details.gated else False  # the keyring, off the GUI thread
            if hardware is None:
                return [UNKNOWN for _ in details.files], None, token
            fits = [fit_for_size(f.size, hardware, wanted_ctx) for f in details.files]
            return fits, best_index([f.size for f in details.files], fits), token

        def judged(result: Any) -> None:
            if repo_id == self.repo_id:
                self.show_details(details, *result)

        run_task(judge, name="fit", on_result=judged)

    def _failed(self, repo_id: str, exc: Exception) -> None:
        if repo_id != self.repo_id:
            return
        self.hint.hide()
        self._show_error(exc)

    def _show_error(self, exc: Exception) -> None:
        from app.core.hub import GatedModelError, HubError

        actions = []
        if isinstance(exc, GatedModelError):
            actions.append(("Open Settings", self.settingsRequested.emit))
        text = str(exc) if isinstance(exc, HubError) else f"Something went wrong: {exc}"
        self.notice.show_message(linkify(text), "error", actions)

    def _got_card(self, repo_id: str, text: str) -> None:
        if repo_id != self.repo_id:
            return
        body = strip_front_matter(text)
        self.card.setMarkdown(body or "*This model has no description.*")

    def _card_failed(self, repo_id: str, exc: Exception) -> None:
        from app.core.hub import GatedModelError

        if repo_id != self.repo_id:
            return
        if isinstance(exc, GatedModelError):
            self._show_error(exc)
        self.card.setMarkdown("*The description could not be loaded.*")

    # -- showing -------------------------------------------------------------------------
    def show_details(
        self, details: ModelDetails, fits: list[Fit], best: int | None, has_token: bool = False
    ) -> None:
        """Fill the page (also used directly by tests and screenshots)."""
        self.repo_id = details.repo_id
        self.details, self.fits, self.best = details, list(fits), best
        self.title.setText(details.repo_id)
        facts = [
            f"by {details.author}",
            f"{format_count(details.downloads)} downloads",
            f"{format_count(details.likes)} likes",
            f"updated {format_when(details.last_modified)}",
            f"license: {details.license or 'not stated'}",
        ]
        if details.gated:
            facts.append("🔒 asks you to accept its license")
        self.facts.setText(" · ".join(facts))
        if details.gated and not self.notice.isVisible():
            from app.core.hub import GatedModelError

            message = str(GatedModelError(details.repo_id, has_token=has_token))
            self.notice.show_message(
                linkify(message), "warning", [("Open Settings", self.settingsRequested.emit)]
            )
        self.files.clear()
        self.file_items.clear()
        self.download_buttons.clear()
        if not details.files:
            self.hint.setText("This model has no GGUF files Enclave can use.")
            self.hint.show()
            return
        best_file = details.files[best] if best is not None else None
        if best_file is not None:
            self.hint.setText(
                f"The highlighted file, {best_file.quant}, is the best choice for this computer. "
                "Smaller files run faster; larger ones answer a little better."
            )
        else:
            self.hint.setText(
                "None of these files fits this computer well. Try a smaller model."
                if fits and all(f.verdict == "too_large" for f in fits)
                else "Pick a file to download. Smaller files run faster."
            )
        self.hint.show()
        index_of = {f.filename: i for i, f in enumerate(details.files)}
        for quant, group in details.by_quant().items():
            sizes = sorted(f.size for f in group)
            header = QTreeWidgetItem(
                [
                    f"{quant}  ({len(group)} file{'s' if len(group) > 1 else ''})",
                    format_bytes(sizes[0]) if len(group) == 1 else "",
                    "",
                    "",
                ]
            )
            font = QFont(header.font(0))
            font.setBold(True)
            header.setFont(0, font)
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.files.addTopLevelItem(header)
            for item in group:
                i = index_of[item.filename]
                self._add_file(header, item, fits[i] if i < len(fits) else None, i == best)
            header.setExpanded(True)
        if best_file is not None:
            self.files.scrollToItem(self.file_items[best_file.filename])

    def _add_file(self, parent: QTreeWidgetItem, item: GGUFFile, fit: Fit | None, best: bool) -> None:
        name = item.filename.rsplit("/", 1)[-1]
        if item.is_split:
            name += f"  (one model in {len(item.parts)} parts)"
        verdict, level = fit_label(fit)
        if best:
            verdict = f"{BEST_TEXT} — {verdict}"
        row = QTreeWidgetItem([name, format_bytes(item.size), verdict, ""])
        row.setToolTip(0, item.filename)
        if fit is not None:
            row.setToolTip(2, fit.summary)
        color = _LEVEL_COLORS.get(level)
        if color:
            row.setForeground(2, QBrush(QColor(color)))
        if best:
            row.setData(0, Qt.ItemDataRole.UserRole + 1, "best")
            font = QFont(row.font(0))
            font.setBold(True)
            for column in range(3):
                row.setFont(column, font)
                row.setBackground(column, QBrush(QColor(46, 160, 67, 48)))
        parent.addChild(row)
        button = QPushButton("Download")
        button.setObjectName("bestDownload" if best else "fileDownload")
        button.setToolTip(f"Download {item.filename} ({format_bytes(item.size)})")
        button.clicked.connect(lambda: self.download(item.filename))
        holder = QWidget()
        box = QHBoxLayout(holder)
        box.setContentsMargins(4, 1, 4, 1)
        box.addWidget(button)
        self.files.setItemWidget(row, 3, holder)
        self.file_items[item.filename] = row
        self.download_buttons[item.filename] = button

    def download(self, filename: str) -> None:
        details = self.details
        if details is None:
            return
        item = details.find(filename)
        if item is None:
            return
        from app.core.hub import HubError

        try:
            self.downloads.add(details.repo_id, item.filename, revision=details.revision, parts=item.parts)
        except HubError as exc:
            self._show_error(exc)
            return
        button = self.download_buttons.get(filename)
        if button is not None:
            button.setText("Queued ✓")
            button.setEnabled(False)
        if self.downloads.offline():
            self.notice.show_message("Added to Downloads. It starts when offline mode is off.", "info")

    def best_filename(self) -> str | None:
        if self.details is None or self.best is None:
            return None
        return self.details.files[self.best].filename
