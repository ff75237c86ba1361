"""One model from Hugging Face: its facts, its GGUF files grouped by quantization with a
"will it run here" verdict each (the best choice highlighted), a Download button per file,
and the model card. Every hub call runs on a worker; errors show in plain words."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
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
from app.core.i18n import translate, translate_noop
from app.ui.notice_bar import NoticeBar
from app.ui.pages.download_controller import DownloadController
from app.ui.pages.models_common import (
    fit_label,
    format_bytes,
    format_count,
    format_when,
    linkify,
    settings_can_fix,
    with_hardware,
)
from app.ui.speed_label import HEADER as SPEED_HEADER
from app.ui.speed_label import SpeedColumn
from app.ui.tasks import ProgressFn, TaskHandle, run_task

if TYPE_CHECKING:
    from app.core.fit import Fit
    from app.core.hub import GGUFFile, ModelDetails
    from app.ui.main_window import MainWindow

_FRONT_MATTER = re.compile(r"\A\ufeff?---\s*\n.*?\n---\s*(?:\n|\Z)", re.DOTALL)
_LEVEL_COLORS = {"good": "#1b7f3b", "ok": "#8a6d00", "slow": "#8a5a00", "bad": "#b3261e"}
BEST_TEXT = translate_noop("model_page", "★ Best choice for this computer")
COLUMNS = [
    translate_noop("model_page", "Quality"),
    translate_noop("model_page", "File"),
    translate_noop("model_page", "Size"),
    translate_noop("model_page", "On this computer"),
    SPEED_HEADER,
    "",
]
COL_QUANT, COL_FILE, COL_SIZE, COL_FIT, COL_SPEED, COL_ACTION = range(6)
HEADING_POINTS = {1: 17, 2: 14, 3: 12}
# Bits per weight -> what a quantization means for a person choosing one.
_QUALITY = [
    (3.0, translate_noop("model_page", "smallest, lowest quality")),
    (4.0, translate_noop("model_page", "small, fair quality")),
    (5.0, translate_noop("model_page", "balanced, the usual choice")),
    (6.0, translate_noop("model_page", "high quality")),
    (7.0, translate_noop("model_page", "very high quality")),
    (9.0, translate_noop("model_page", "near original, large")),
    (33.0, translate_noop("model_page", "original, largest")),
]


def quality_words(bits: float) -> str:
    words = next((words for limit, words in _QUALITY if bits < limit), "")
    return translate("model_page", words) if words else ""


def quant_label(quant: str, bits: float) -> str:
    """'Balanced, the usual choice (Q4_K_M)': what it means first, its name after."""
    words = quality_words(bits)
    if not words:
        return quant
    quality = f"{words[0].upper()}{words[1:]}"
    return translate("model_page", "{quality} ({quant})").format(quality=quality, quant=quant)


def _columns() -> list[str]:
    """The file list's headings in the chosen language (the speed one is speed_label's)."""
    texts = [translate("model_page", text) if text else "" for text in COLUMNS]
    texts[COL_SPEED] = translate("speed_label", SPEED_HEADER)
    return texts


def repo_title(repo_id: str) -> str:
    """'Qwen2.5 7B Instruct' for 'bartowski/Qwen2.5-7B-Instruct-GGUF' (who published it is in
    the facts line, the exact id in the tooltip)."""
    name = re.sub(r"[-_. ]gguf$", "", repo_id.split("/", 1)[-1], flags=re.IGNORECASE)
    return " ".join(w for w in re.split(r"[-_ ]+", name) if w) or repo_id


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
        self.hidden_by_policy = 0  # files of this repo the organisation's allowed_models hides
        self._tasks: list[TaskHandle] = []
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 10)
        layout.setSpacing(8)
        top = QHBoxLayout()
        self.back_button = QPushButton(translate("model_page", "← Back to Discover"))
        self.back_button.setObjectName("backButton")
        self.back_button.clicked.connect(self.backRequested)
        top.addWidget(self.back_button)
        top.addStretch(1)
        layout.addLayout(top)
        self.title = QLabel()
        self.title.setObjectName("modelsTitle")
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
        self.hint.setObjectName("modelsHint")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)

        self.files = QTreeWidget()
        self.files.setObjectName("fileTree")
        self.files.setColumnCount(len(COLUMNS))
        self.files.setHeaderLabels(_columns())
        self.files.setRootIsDecorated(False)
        self.files.setUniformRowHeights(False)
        self.files.setIndentation(14)
        self.files.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.files.header()
        header.setStretchLastSection(False)
        for column in range(len(COLUMNS)):
            mode = QHeaderView.ResizeMode.ResizeToContents
            header.setSectionResizeMode(column, mode)
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Stretch)
        self.speeds = SpeedColumn(self.files, COL_SPEED)  # predicted speed of each file here
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
        self.title.setText(repo_title(repo_id))
        self.title.setToolTip(repo_id)
        self.facts.setText("")
        self.notice.hide()
        self.hint.setText(translate("model_page", "Looking up the files on Hugging Face…"))
        self.hint.show()
        self.files.clear()
        self.speeds.reset()
        self.file_items.clear()
        self.download_buttons.clear()
        self.card.setMarkdown("")
        settings = self.window_.settings
        from app.core.net.gate import gate

        closed = gate().closed_because("listing", settings)
        if closed is not None:
            self.hint.hide()
            self.notice.show_message(
                str(closed), "info", [(translate("model_page", "Open Settings"), self.settingsRequested.emit)]
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
        from dataclasses import replace

        from app.core.policy_rules import allowed_files

        allowed = allowed_files(repo_id, details.files)
        self.hidden_by_policy = len(details.files) - len(allowed)
        if self.hidden_by_policy:  # the organisation's allowed_models: the others are not shown
            details = replace(details, files=allowed)
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

        open_settings = (translate("model_page", "Open Settings"), self.settingsRequested.emit)
        actions = [open_settings] if settings_can_fix(exc) else []
        # A gated model is not broken: the user has a step to take.
        level = "warning" if isinstance(exc, GatedModelError) else "error"
        if isinstance(exc, HubError):
            text = str(exc)
        else:
            text = translate("model_page", "Something went wrong: {error}").format(error=exc)
        self.notice.show_message(linkify(text), level, actions)

    def _got_card(self, repo_id: str, text: str) -> None:
        if repo_id != self.repo_id:
            return
        body = strip_front_matter(text)
        self.card.setMarkdown(body or translate("model_page", "*This model has no description.*"))
        self._tame_headings()

    def _tame_headings(self) -> None:
        """Markdown headings render at poster size in QTextBrowser; bring them down."""
        from PySide6.QtGui import QTextCharFormat, QTextCursor, QTextFormat

        block = self.card.document().begin()
        while block.isValid():
            points = HEADING_POINTS.get(block.blockFormat().headingLevel())
            if points:
                cursor = QTextCursor(block)
                cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
                fmt = QTextCharFormat()
                fmt.setProperty(QTextFormat.Property.FontSizeAdjustment, 0)
                fmt.setFontPointSize(points)
                cursor.mergeCharFormat(fmt)
            block = block.next()

    def _card_failed(self, repo_id: str, exc: Exception) -> None:
        from app.core.hub import GatedModelError

        if repo_id != self.repo_id:
            return
        if isinstance(exc, GatedModelError):
            self._show_error(exc)
        self.card.setMarkdown(translate("model_page", "*The description could not be loaded.*"))

    # -- showing -------------------------------------------------------------------------
    def show_details(
        self, details: ModelDetails, fits: list[Fit], best: int | None, has_token: bool = False
    ) -> None:
        """Fill the page (also used directly by tests and screenshots)."""
        self.repo_id = details.repo_id
        self.details, self.fits, self.best = details, list(fits), best
        self.title.setText(repo_title(details.repo_id))
        on_hub = translate("model_page", "{model} on Hugging Face")
        self.title.setToolTip(on_hub.format(model=details.repo_id))
        facts = [
            translate("model_page", "by {author}").format(author=details.author),
            translate("model_page", "{count} downloads").format(count=format_count(details.downloads)),
            translate("model_page", "{count} likes").format(count=format_count(details.likes)),
            translate("model_page", "updated {when}").format(when=format_when(details.last_modified)),
            translate("model_page", "license: {license}").format(
                license=details.license or translate("model_page", "not stated")
            ),
        ]
        if details.gated:
            facts.append(translate("model_page", "asks you to accept its license"))
        self.facts.setText(" · ".join(facts))
        if details.gated and not self.notice.isVisible():
            from app.core.hub import GatedModelError

            message = str(GatedModelError(details.repo_id, has_token=has_token))
            open_settings = (translate("model_page", "Open Settings"), self.settingsRequested.emit)
            self.notice.show_message(linkify(message), "warning", [open_settings])
        self.files.clear()
        self.speeds.reset()
        self.file_items.clear()
        self.download_buttons.clear()
        if not details.files:
            self.hint.setText(
                translate("model_page", "Your organisation does not allow any file of this model.")
                if self.hidden_by_policy
                else translate("model_page", "This model has no GGUF files Enclave can use.")
            )
            self.hint.show()
            return
        best_file = details.files[best] if best is not None else None
        if best_file is not None:
            self.hint.setText(
                translate(
                    "model_page",
                    "The highlighted file is the best choice for this computer. "
                    "Smaller files run faster; larger ones answer a little better.",
                )
            )
        else:
            self.hint.setText(
                translate("model_page", "None of these files fits this computer well. Try a smaller model.")
                if fits and all(f.verdict == "too_large" for f in fits)
                else translate("model_page", "Pick a file to download. Smaller files run faster.")
            )
        from app.ui.policy_view import download_block_reason

        blocked = download_block_reason()
        if blocked:
            self.hint.setText(blocked)
        self.hint.show()
        index_of = {f.filename: i for i, f in enumerate(details.files)}
        for quant, group in details.by_quant().items():
            label = quant_label(quant, group[0].bits)
            parent: QTreeWidgetItem | None = None
            if len(group) > 1:  # several files of one quantization: a group row above them
                files_text = translate("model_page", "%n files", n=len(group))
                parent = QTreeWidgetItem([label, files_text, "", "", "", ""])
                font = QFont(parent.font(COL_QUANT))
                font.setBold(True)
                parent.setFont(COL_QUANT, font)
                parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.files.addTopLevelItem(parent)
            for item in group:
                i = index_of[item.filename]
                fit = fits[i] if i < len(fits) else None
                self._add_file(parent, label if parent is None else "", item, fit, i == best)
            if parent is not None:
                parent.setExpanded(True)
        if best_file is not None:
            self.files.scrollToItem(self.file_items[best_file.filename])

    def _add_file(
        self, parent: QTreeWidgetItem | None, label: str, item: GGUFFile, fit: Fit | None, best: bool
    ) -> None:
        name = item.filename.rsplit("/", 1)[-1]
        if item.is_split:
            stem = re.sub(r"-\d{5}-of-\d{5}\.gguf$", "", name, flags=re.IGNORECASE)
            name = translate("model_page", "{name}  (one model in {parts} parts)").format(
                name=stem, parts=len(item.parts)
            )
        verdict, level = fit_label(fit)
        if best:
            verdict = translate("model_page", "{best} — {verdict}").format(
                best=translate("model_page", BEST_TEXT), verdict=verdict
            )
        row = QTreeWidgetItem([label, name, format_bytes(item.size), verdict, "", ""])
        row.setToolTip(COL_FILE, item.filename)
        if fit is not None:
            row.setToolTip(COL_FIT, fit.summary)
        color = _LEVEL_COLORS.get(level)
        if color:
            row.setForeground(COL_FIT, QBrush(QColor(color)))
        if best:
            font = QFont(row.font(COL_FILE))
            font.setBold(True)
            for column in range(COL_ACTION):
                row.setFont(column, font)
                row.setBackground(column, QBrush(QColor(46, 160, 67, 48)))
        if parent is None:
            self.files.addTopLevelItem(row)
        else:
            parent.addChild(row)
        self.speeds.for_size(row, item.size, item.bits, fit, item.quant)
        button = QPushButton(translate("model_page", "Download"))
        button.setObjectName("bestDownload" if best else "fileDownload")
        button.setToolTip(
            translate("model_page", "Download {file} ({size})").format(
                file=item.filename, size=format_bytes(item.size)
            )
        )
        from app.ui.policy_view import download_block_reason

        blocked = download_block_reason()
        if blocked:  # the organisation's offline_only / allow_downloads
            button.setEnabled(False)
            button.setToolTip(blocked)
        button.clicked.connect(lambda: self.download(item.filename))
        holder = QWidget()
        box = QHBoxLayout(holder)
        box.setContentsMargins(6, 2, 6, 2)
        box.addWidget(button)
        self.files.setItemWidget(row, COL_ACTION, holder)
        button.installEventFilter(self)  # Tab to it scrolls its row and column into view
        self.file_items[item.filename] = row
        self.download_buttons[item.filename] = button

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        """A Download button that Tab reaches in a row scrolled out of sight (the list is wider
        than the page) is scrolled into view, so the keyboard's focus is always on screen."""
        if event.type() == QEvent.Type.FocusIn:
            name = next((f for f, b in self.download_buttons.items() if b is watched), None)
            row = self.file_items.get(name) if name is not None else None
            if row is not None:
                self.files.scrollTo(self.files.indexFromItem(row, COL_ACTION))
        return super().eventFilter(watched, event)

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
            button.setText(translate("model_page", "Queued ✓"))
            button.setEnabled(False)
        if self.downloads.offline():
            self.notice.show_message(
                translate("model_page", "Added to Downloads. It starts when offline mode is off."), "info"
            )

    def best_filename(self) -> str | None:
        if self.details is None or self.best is None:
            return None
        return self.details.files[self.best].filename
