"""The persistent download queue the GUI shows: `DownloadManager` and its `DownloadJob`s.

`add()` / `pause()` / `resume()` / `cancel()` / `remove()` are quick and thread-safe (call them
from the GUI thread); `run_all()` / `run_next()` do the work on one worker thread, one job at a
time, through `download_model`. The queue is saved in `<data>/downloads.json`, so a download
interrupted by closing or killing the app continues where it stopped the next time `run_all()`
runs.

The network gate (app.core.net) pauses the queue: while it is closed for downloads nothing
starts, and when it closes during a download that download stops at once and goes back to
"queued" with its bytes kept (it waits; it does not fail). Whoever runs the queue starts it again
when the gate opens (`gate().changed`; the window's DownloadController does).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from app.core import paths
from app.core.cancel import CancelToken as BaseCancelToken
from app.core.downloads.errors import CancelToken, DownloadCancelled, DownloadError
from app.core.downloads.model import download_model
from app.core.downloads.placement import discard_partial, safe_model_path
from app.core.downloads.progress import Progress, ProgressCallback
from app.core.hub import FilePart, HubError, OfflineError
from app.core.i18n import translate
from app.core.net.gate import gate
from app.core.settings import Settings, atomic_write_text, load_settings

log = logging.getLogger("app.core.downloads")

State = Literal["queued", "downloading", "paused", "failed", "done", "cancelled"]


@dataclass
class DownloadJob:
    """One queued model. `state`: queued, downloading, paused, failed, done or cancelled."""

    id: str
    repo_id: str
    filename: str
    revision: str | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)  # FilePart fields
    total: int = 0
    downloaded: int = 0
    state: State = "queued"
    error: str = ""
    path: str = ""
    created: float = field(default_factory=time.time)
    # A curated name (the starter catalog) that the repo may not have under exactly that name:
    # when the job starts, a missing file is replaced by the closest one (catalog.pick_file).
    stand_in: bool = False
    requested: str = ""  # the name asked for, when another file stands in for it
    note: str = ""  # said to the user: which file stands in, and why

    def file_parts(self) -> list[FilePart] | None:
        return [FilePart(**p) for p in self.parts] if self.parts else None


def queue_path() -> Path:
    return paths.data_dir() / "downloads.json"


class DownloadManager:
    """The download queue. Control methods are thread-safe; run_* block (worker thread).

    One worker runs jobs one at a time, in order. Jobs left "downloading" by a killed app are
    queued again on load, and resume from their bytes on disk.
    """

    def __init__(
        self,
        *,
        models_dir: Path | None = None,
        settings: Settings | None = None,
        store: Path | None = None,
        token: str | None = None,
        **download_options: Any,
    ) -> None:
        self._settings = settings
        self._models_dir = models_dir
        self._store = store or queue_path()
        self._token = token
        self._options = download_options
        self._lock = threading.RLock()
        self._jobs: dict[str, DownloadJob] = {}
        self._tokens: dict[str, CancelToken] = {}
        self._load()
        gate().changed.connect(self._gate_changed)  # a weak connection: it goes with us

    def _gate_changed(self) -> None:
        """The gate closed for downloads: the running one stops now and waits, queued."""
        if gate().is_open("download", self._settings):
            return
        with self._lock:
            for token in self._tokens.values():
                if not token.cancelled:  # a pause or cancel the user asked for stays one
                    token.cancel("offline")

    # -- persistence ---------------------------------------------------------------------
    def _load(self) -> None:
        import json

        if not self._store.exists():
            return
        try:
            raw = json.loads(self._store.read_text(encoding="utf-8"))
            for entry in raw.get("jobs", []):
                job = DownloadJob(**entry)
                if job.state == "downloading":
                    job.state = "queued"
                self._jobs[job.id] = job
        except (OSError, ValueError, TypeError) as exc:
            log.warning("Download queue unreadable (%s); starting empty", exc)

    def _save(self) -> None:
        import json

        with self._lock:
            data = {"version": 1, "jobs": [asdict(j) for j in self._jobs.values()]}
        atomic_write_text(self._store, json.dumps(data, indent=1))

    # -- queries -------------------------------------------------------------------------
    def settings(self) -> Settings:
        return self._settings if self._settings is not None else load_settings()

    def models_dir(self) -> Path:
        return self._models_dir or self.settings().resolved_models_dir()

    def jobs(self) -> list[DownloadJob]:
        with self._lock:
            return [replace(j, parts=list(j.parts)) for j in self._jobs.values()]

    def get(self, job_id: str) -> DownloadJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return replace(job) if job else None

    # -- control (any thread) ------------------------------------------------------------
    def add(
        self,
        repo_id: str,
        filename: str,
        *,
        revision: str | None = None,
        parts: Sequence[FilePart] | None = None,
        stand_in: bool = False,
    ) -> DownloadJob:
        """Queue a model (no network). Refuses unsafe names at once.

        `stand_in`: the name comes from a curated list, not from the repo's listing; if the repo
        has no file of that name when the job starts, download the closest one instead.
        """
        models_dir = self.models_dir()
        safe_model_path(models_dir, repo_id, filename)
        for part in parts or ():
            safe_model_path(models_dir, repo_id, part.filename)
        from app.core.policy_rules import download_refusal

        refusal = download_refusal(models_dir, repo_id, filename)  # the organisation's policy
        if refusal:
            raise DownloadError(refusal)
        with self._lock:
            for job in self._jobs.values():
                same = job.repo_id == repo_id and filename in (job.filename, job.requested)
                if same and job.state in ("queued", "downloading", "paused"):
                    return replace(job)
            job = DownloadJob(
                id=uuid.uuid4().hex[:12],
                repo_id=repo_id,
                filename=filename,
                revision=revision,
                parts=[asdict(p) for p in parts or ()],
                total=sum(p.size for p in parts or ()),
                stand_in=stand_in and not parts,
            )
            self._jobs[job.id] = job
        self._save()
        return replace(job)

    def pause(self, job_id: str) -> None:
        self._stop(job_id, "pause", "paused")

    def cancel(self, job_id: str) -> None:
        """Stop and delete the partial bytes. The job stays listed as cancelled."""
        self._stop(job_id, "cancel", "cancelled")
        job = self.get(job_id)
        if job is not None and job.id not in self._tokens:
            self._discard(job)

    def resume(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in ("paused", "failed", "cancelled"):
                return
            job.state, job.error = "queued", ""
        self._save()

    def remove(self, job_id: str) -> None:
        """Forget a job (cancelling it first if it is still running)."""
        self.cancel(job_id)
        with self._lock:
            self._jobs.pop(job_id, None)
        self._save()

    def stop_all(self) -> None:
        """App shutdown: stop the running job but keep it queued for the next start."""
        with self._lock:
            for token in self._tokens.values():
                token.cancel("shutdown")

    def _stop(self, job_id: str, reason: str, state: State) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state in ("done",):
                return
            token = self._tokens.get(job_id)
            if token is not None:
                token.cancel(reason)
            job.state = state
        self._save()

    def _discard(self, job: DownloadJob) -> None:
        names = [p["filename"] for p in job.parts] or [job.filename]
        try:
            discard_partial(self.models_dir(), job.repo_id, names)
        except (OSError, DownloadError):
            log.exception("Could not delete the partial download of %s", job.filename)

    # -- work (one worker thread) --------------------------------------------------------
    def run_next(self, on_progress: ProgressCallback | None = None) -> DownloadJob | None:
        """Run the first queued job to its end (done, failed, paused, cancelled)."""
        with self._lock:
            if not gate().is_open("download", self._settings):
                return None  # waits for the gate; nothing starts while it is closed
            job = next((j for j in self._jobs.values() if j.state == "queued"), None)
            if job is None:
                return None
            job.state = "downloading"
            token = CancelToken()
            self._tokens[job.id] = token
        self._save()

        def progress(p: Progress) -> None:
            with self._lock:
                job.downloaded, job.total = p.downloaded, p.total
            if on_progress is not None:
                on_progress(p)

        try:
            if job.stand_in and not job.parts:
                self._choose_file(job)
            path = download_model(
                job.repo_id,
                job.filename,
                models_dir=self.models_dir(),
                revision=job.revision,
                parts=job.file_parts(),
                token=self._token,
                settings=self.settings(),
                cancel=token,
                on_progress=progress,
                job_id=job.id,
                **self._options,
            )
            with self._lock:
                job.state, job.path, job.error = "done", str(path), ""
                job.downloaded = job.total
        except DownloadCancelled as stop:
            with self._lock:
                if stop.reason in ("shutdown", "offline"):
                    job.state = "queued"  # offline: it waits for the gate, bytes kept
                elif stop.reason == "pause":
                    job.state = "paused"
                else:
                    job.state = "cancelled"
            if job.state == "cancelled":
                self._discard(job)
        except OfflineError:  # the gate closed on the way: wait, don't fail
            with self._lock:
                job.state, job.error = "queued", ""
        except HubError as exc:
            self._failed(job, token, str(exc))
        except Exception as exc:  # never lose the queue to an unexpected bug
            log.exception("Download of %s failed", job.filename)
            self._failed(
                job, token, translate("manager", "Unexpected problem: {problem}").format(problem=exc)
            )
        finally:
            with self._lock:
                self._tokens.pop(job.id, None)
            self._save()
        return self.get(job.id)

    def _failed(self, job: DownloadJob, token: CancelToken, text: str) -> None:
        """The job ended in an error, unless the user paused or cancelled it meanwhile (a fast
        failure can race their click): then their choice stands, not the error."""
        with self._lock:
            chosen = token.cancelled and token.reason in ("pause", "cancel")
            if chosen:
                job.state = "paused" if token.reason == "pause" else "cancelled"
            else:
                job.state, job.error = "failed", text
        if chosen and job.state == "cancelled":
            self._discard(job)

    def _choose_file(self, job: DownloadJob) -> None:
        """Look the job's name up in the repo's listing; take a stand-in if it is not there."""
        from app.core.catalog import pick_file
        from app.core.fit import detect_hardware_safely
        from app.core.hub import model_files

        details = model_files(job.repo_id, job.revision, settings=self.settings(), token=self._token)
        chosen, note = pick_file(details, job.filename, detect_hardware_safely)
        for part in chosen.parts:
            safe_model_path(self.models_dir(), job.repo_id, part.filename)
        with self._lock:
            if chosen.filename != job.filename:
                job.requested, job.filename, job.note = job.filename, chosen.filename, note
            job.revision = details.revision
            job.parts = [asdict(p) for p in chosen.parts]
            job.total = chosen.size
        if note:
            log.warning("%s", note)
        self._save()

    def run_all(
        self, on_progress: ProgressCallback | None = None, stop: BaseCancelToken | None = None
    ) -> list[DownloadJob]:
        """Run queued jobs until none is left (or `stop` is set). Returns the jobs it ran."""
        ran: list[DownloadJob] = []
        while stop is None or not stop.cancelled:
            job = self.run_next(on_progress)
            if job is None:
                break
            ran.append(job)
        return ran
