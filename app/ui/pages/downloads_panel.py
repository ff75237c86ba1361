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
from app.core.model_names import display_name
from app.core.plain_words import quality_of, quant_in_name
from app.ui.pages.download_controller import DownloadController
from app.ui.pages.models_common import format_bytes, format_duration, linkify

_STATE_TEXT = {
    "queued": "Waiting to start",
    "paused": "Paused",
    "cancelled": "Cancelled",
    "done": "Downloaded — it is in your Library",
}
_PHASE_TEXT = {
    "checking": "Starting…",
    "verifying": "Checking the file…",
}


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
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.clear_button = QPushButton("Remove from list")
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
        plain = display_name(job.filename) + (f" · Quality: {quality}" if quality else "")
        self.name_label.setText(f"<b>{escape(plain)}</b>")
        self.name_label.setToolTip(f"{job.filename}\nfrom {job.repo_id}")
        self.note_label.setText(job.note)
        self.note_label.setVisible(bool(job.note))
        active = job.state in ("queued", "downloading")
        self.pause_button.setText(
            "Pause" if active else "Try again" if job.state in ("failed", "cancelled") else "Resume"
        )
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
            self.status_label.setText(linkify(job.error or "The download failed."))
            return
        text = _STATE_TEXT.get(job.state, "")
        waiting = self._controller.offline_reason() if job.state == "queued" else None
        if waiting is not None:
            from app.core.hub import OfflineError

            text = (
                "Waiting: offline mode is on (turn it off in Settings to download)"
                if type(waiting) is OfflineError
                else f"Waiting. {waiting}"
            )
        if job.state in ("paused", "queued") and job.total:
            text += f" · {format_bytes(job.downloaded)} of {format_bytes(job.total)}"
        if job.state == "done" and job.total:
            text += f" · {format_bytes(job.total)}"
        if job.state == "downloading":
            text = "Downloading…"
        self.status_label.setText(text)

    def show_progress(self, report: Progress) -> None:
        if self.state not in ("downloading", "queued"):
            return
        self.progress.setValue(int(1000 * report.fraction))
        parts = [f"{format_bytes(report.downloaded)} of {format_bytes(report.total)}"]
        if report.state in _PHASE_TEXT:
            parts.insert(0, _PHASE_TEXT[report.state])
        elif report.state == "retrying":
            parts.insert(0, report.message or "Connection problem; trying again")
        elif report.speed > 0:
            parts.append(f"{format_bytes(report.speed)}/s")
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
        title = QLabel("Downloads")
        title.setObjectName("modelsSection")
        header.addWidget(title)
        header.addStretch(1)
        self.library_button = QPushButton("Open Library")
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
