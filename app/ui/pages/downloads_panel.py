"""The Downloads panel: one row per queued model with bytes, speed, time left, a progress bar,
Pause/Resume and Cancel. It only draws what DownloadController reports; it never blocks."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core.downloads import DownloadJob, Progress
from app.core.i18n import translate, translate_noop
from app.core.model_names import display_name
from app.core.plain_words import quality_of, quant_in_name
from app.ui.pages.download_controller import DownloadController
from app.ui.pages.models_common import format_bytes, format_duration, linkify

_STATE_TEXT = {
    "queued": translate_noop("downloads_panel", "Waiting to start"),
    "paused": translate_noop("downloads_panel", "Paused"),
    "cancelled": translate_noop("downloads_panel", "Cancelled"),
    "done": translate_noop("downloads_panel", "Downloaded — it is in your Library"),
}
_PHASE_TEXT = {
    "checking": translate_noop("downloads_panel", "Starting…"),
    "verifying": translate_noop("downloads_panel", "Checking the file…"),
}


def _of(done: float, total: float) -> str:
    """'1.2 GB of 4.6 GB'."""
    return translate("downloads_panel", "{done} of {total}").format(
        done=format_bytes(done), total=format_bytes(total)
    )


class DownloadRow(QFrame):
    """One job. Buttons call the controller; texts come from `show_job` and `show_progress`."""

    def __init__(self, job: DownloadJob, controller: DownloadController) -> None:
        super().__init__()
        self.setObjectName("downloadRow")
        self.job_id = job.id
        self._controller = controller
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(3)
        top = QHBoxLayout()
        self.name_label = QLabel()
        self.name_label.setObjectName("downloadName")
        self.name_label.setTextFormat(Qt.TextFormat.RichText)
        top.addWidget(self.name_label, 1)
        self.pause_button = QPushButton(translate("downloads_panel", "Pause"))
        self.cancel_button = QPushButton(translate("downloads_panel", "Cancel"))
        self.clear_button = QPushButton(translate("downloads_panel", "Remove from list"))
        for button in (self.pause_button, self.cancel_button, self.clear_button):
            top.addWidget(button)
        layout.addLayout(top)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        layout.addWidget(self.progress)
        self.status_label = QLabel()
        self.status_label.setObjectName("downloadStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setOpenExternalLinks(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(self.status_label)
        self.note_label = QLabel()  # e.g. another file stands in for the one the catalog names
        self.note_label.setObjectName("downloadNote")
        self.note_label.setWordWrap(True)
        self.note_label.setTextFormat(Qt.TextFormat.PlainText)
        self.note_label.hide()
        layout.addWidget(self.note_label)
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.cancel_button.clicked.connect(lambda: controller.cancel(self.job_id))
        self.clear_button.clicked.connect(lambda: controller.remove(self.job_id))
        self.state = job.state
        self.show_job(job)

    def _pause_or_resume(self) -> None:
        if self.state in ("queued", "downloading"):
            self._controller.pause(self.job_id)
        else:
            self._controller.resume(self.job_id)

    def show_job(self, job: DownloadJob) -> None:
        self.state = job.state
        # "Llama 3.2 3B Instruct · Quality: good"; the file and where it comes from in the tooltip.
        quality = quality_of(quant_in_name(job.filename))
        plain = display_name(job.filename)
        if quality:
            plain += " · " + translate("downloads_panel", "Quality: {quality}").format(quality=quality)
        self.name_label.setText(f"<b>{escape(plain)}</b>")
        tip = translate("downloads_panel", "{file}\nfrom {publisher}")
        self.name_label.setToolTip(tip.format(file=job.filename, publisher=job.repo_id))
        self.note_label.setText(job.note)
        self.note_label.setVisible(bool(job.note))
        active = job.state in ("queued", "downloading")
        if active:
            self.pause_button.setText(translate("downloads_panel", "Pause"))
        elif job.state in ("failed", "cancelled"):
            self.pause_button.setText(translate("downloads_panel", "Try again"))
        else:
            self.pause_button.setText(translate("downloads_panel", "Resume"))
        self.pause_button.setVisible(job.state != "done")
        self.cancel_button.setVisible(job.state in ("queued", "downloading", "paused"))
        self.clear_button.setVisible(job.state in ("done", "failed", "cancelled"))
        self.setProperty("state", job.state)
        self.style().unpolish(self)
        self.style().polish(self)
        fraction = job.downloaded / job.total if job.total else 0.0
        self.progress.setValue(int(1000 * (1.0 if job.state == "done" else fraction)))
        self.progress.setVisible(job.state not in ("cancelled",))
        if job.state == "failed":
            failed = job.error or translate("downloads_panel", "The download failed.")
            self.status_label.setText(linkify(failed))
            return
        state_text = _STATE_TEXT.get(job.state)
        text = translate("downloads_panel", state_text) if state_text else ""
        waiting = self._controller.offline_reason() if job.state == "queued" else None
        if waiting is not None:
            from app.core.hub import OfflineError

            text = (
                translate(
                    "downloads_panel", "Waiting: offline mode is on (turn it off in Settings to download)"
                )
                if type(waiting) is OfflineError
                else translate("downloads_panel", "Waiting. {reason}").format(reason=waiting)
            )
        if job.state in ("paused", "queued") and job.total:
            text += " · " + _of(job.downloaded, job.total)
        if job.state == "done" and job.total:
            text += f" · {format_bytes(job.total)}"
        if job.state == "downloading":
            text = translate("downloads_panel", "Downloading…")
        self.status_label.setText(text)

    def show_progress(self, report: Progress) -> None:
        if self.state not in ("downloading", "queued"):
            return
        self.progress.setValue(int(1000 * report.fraction))
        parts = [_of(report.downloaded, report.total)]
        if report.state in _PHASE_TEXT:
            parts.insert(0, translate("downloads_panel", _PHASE_TEXT[report.state]))
        elif report.state == "retrying":
            retrying = report.message or translate("downloads_panel", "Connection problem; trying again")
            parts.insert(0, retrying)
        elif report.speed > 0:
            parts.append(translate("downloads_panel", "{size}/s").format(size=format_bytes(report.speed)))
            left = format_duration(report.eta)
            if left:
                parts.append(left)
        self.status_label.setText(" · ".join(parts))


class DownloadsPanel(QFrame):
    """The list of downloads; hides itself while the list is empty."""

    libraryRequested = Signal()

    def __init__(self, controller: DownloadController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("downloadsPanel")
        self.controller = controller
        self.rows: dict[str, DownloadRow] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        header = QHBoxLayout()
        title = QLabel(translate("downloads_panel", "Downloads"))
        title.setObjectName("modelsSection")
        header.addWidget(title)
        header.addStretch(1)
        self.library_button = QPushButton(translate("downloads_panel", "Open Library"))
        self.library_button.clicked.connect(self.libraryRequested)
        header.addWidget(self.library_button)
        layout.addLayout(header)
        self._list = QWidget()
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.setSpacing(4)
        self._list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._list)
        scroll.setMaximumHeight(230)
        layout.addWidget(scroll)
        self._scroll = scroll
        controller.jobsChanged.connect(self.refresh)
        controller.progressed.connect(self._on_progress)
        self.refresh()

    def refresh(self) -> None:
        jobs = self.controller.jobs()
        wanted = {job.id for job in jobs}
        for job_id in list(self.rows):
            if job_id not in wanted:
                self.rows.pop(job_id).deleteLater()
        for position, job in enumerate(reversed(jobs)):  # newest first
            row = self.rows.get(job.id)
            if row is None:
                row = DownloadRow(job, self.controller)
                self.rows[job.id] = row
                self._list_layout.insertWidget(position, row)
            else:
                row.show_job(job)
            latest = self.controller.latest.get(job.id)
            if latest is not None and job.state == "downloading":
                row.show_progress(latest)
        self._scroll.setMinimumHeight(min(230, 70 * len(jobs)))
        self.setVisible(bool(jobs))

    def _on_progress(self, report: Progress) -> None:
        row = self.rows.get(report.job_id)
        if row is not None:
            if row.state == "queued":
                row.state = "downloading"
            row.show_progress(report)
