"""The bridge between app.core.downloads.DownloadManager and the widgets.

One worker task (the IO pool) runs the queue, one job at a time; control calls (add, pause,
resume, cancel, remove) are quick and run on the GUI thread. Progress reaches the GUI at most
ten times a second per job, so a fast download never floods the event loop. The queue lives
in `<data>/downloads.json`: jobs a closed or killed app left unfinished continue when the
window starts. The network gate (app.core.net) pauses the queue: while it is closed nothing
starts and a running download waits, queued (the manager does that); when it opens again, the
queue starts here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.cancel import CancelToken
from app.core.downloads import DownloadJob, DownloadManager, Progress
from app.core.hub import FilePart, OfflineError
from app.core.net.gate import gate
from app.core.settings import Settings
from app.ui.observe import observe
from app.ui.tasks import ProgressFn, TaskHandle, run_task

log = logging.getLogger("enclave.ui.downloads")

MIN_INTERVAL_S = 0.1  # at most ~10 progress updates a second per job reach the GUI


class DownloadController(QObject):
    jobsChanged = Signal()  # a job was added, removed, or changed state
    progressed = Signal(object)  # Progress, throttled
    jobFinished = Signal(object)  # DownloadJob that ended "done": it is in the Library now
    jobFailed = Signal(object)  # DownloadJob that ended "failed" (job.error says why)

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.manager = DownloadManager(settings=settings)
        self.latest: dict[str, Progress] = {}
        self._handle: TaskHandle | None = None
        self._closing = False
        observe(gate().changed, self, self._gate_changed)

    def _gate_changed(self) -> None:
        # Any thread may change the gate; the queue is started from the GUI thread (and not at
        # all once this controller is gone: the context object drops the call).
        QTimer.singleShot(0, self, self._on_gate)

    def _on_gate(self) -> None:
        self.jobsChanged.emit()  # "waiting: offline" appears or goes
        self.start()

    # -- queries -------------------------------------------------------------------------
    def jobs(self) -> list[DownloadJob]:
        return self.manager.jobs()

    @property
    def running(self) -> bool:
        return self._handle is not None and self._handle.running

    def offline(self) -> bool:
        return self.offline_reason() is not None

    def offline_reason(self) -> OfflineError | None:
        """Why downloads wait now (the gate is closed for them), or None."""
        return gate().closed_because("download", self.settings)

    # -- control (GUI thread) ------------------------------------------------------------
    def add(
        self,
        repo_id: str,
        filename: str,
        *,
        revision: str | None = None,
        parts: Sequence[FilePart] | None = None,
        stand_in: bool = False,
    ) -> DownloadJob:
        """Queue a model and start the worker. Raises UnsafePathError for a dangerous name.

        `stand_in`: a curated name (starter catalog); see DownloadManager.add."""
        job = self.manager.add(repo_id, filename, revision=revision, parts=parts, stand_in=stand_in)
        self.jobsChanged.emit()
        self.start()
        return job

    def pause(self, job_id: str) -> None:
        self.manager.pause(job_id)
        self.jobsChanged.emit()

    def resume(self, job_id: str) -> None:
        self.manager.resume(job_id)
        self.jobsChanged.emit()
        self.start()

    def cancel(self, job_id: str) -> None:
        self.manager.cancel(job_id)
        self.latest.pop(job_id, None)
        self.jobsChanged.emit()

    def remove(self, job_id: str) -> None:
        self.manager.remove(job_id)
        self.latest.pop(job_id, None)
        self.jobsChanged.emit()

    def start(self) -> None:
        """Run the queue on a worker unless it already runs, nothing waits, or we are offline."""
        if self._closing or self.running or self.offline():
            return
        if not any(job.state == "queued" for job in self.manager.jobs()):
            return
        manager = self.manager

        def work(progress: ProgressFn, cancel: CancelToken) -> None:
            last: dict[str, float] = {}

            def on_progress(report: Progress) -> None:
                now = time.monotonic()
                if report.state == "downloading" and now - last.get(report.job_id, 0.0) < (MIN_INTERVAL_S):
                    return
                last[report.job_id] = now
                progress(("progress", report))

            while not cancel.cancelled:
                job = manager.run_next(on_progress)
                if job is None:
                    break
                progress(("ended", job))

        self._handle = run_task(
            work,
            name="downloads",
            on_progress=self._on_worker,
            on_error=lambda exc: log.error("download worker failed: %s", exc),
            on_finished=self._on_worker_done,
        )
        self.jobsChanged.emit()

    def shutdown(self) -> None:
        """Window closing: stop the running job but keep it queued for the next start."""
        self._closing = True
        if self._handle is not None:
            self._handle.cancel()
        self.manager.stop_all()

    # -- worker signals (GUI thread) -----------------------------------------------------
    def _on_worker(self, message: Any) -> None:
        kind, payload = message
        if kind == "progress":
            first = payload.job_id not in self.latest
            self.latest[payload.job_id] = payload
            if first:
                self.jobsChanged.emit()  # queued -> downloading
            self.progressed.emit(payload)
            return
        job: DownloadJob = payload
        self.latest.pop(job.id, None)
        self.jobsChanged.emit()
        if job.state == "done":
            self.jobFinished.emit(job)
        elif job.state == "failed":
            self.jobFailed.emit(job)

    def _on_worker_done(self) -> None:
        self._handle = None
        # A job resumed or added just as the worker ran out of work: pick it up now.
        QTimer.singleShot(0, self.start)
