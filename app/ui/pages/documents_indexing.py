"""Indexing in the background for the Documents page: one collection at a time on the IO pool,
with progress, Cancel, resume at start-up, and incremental re-index when files change.

Embedding goes to the local engine host (`EngineService.local`) with the model the settings
name (`SettingsStore.current.embedding_model`, read when a run starts). Each embedding batch is
its own small job on the one engine queue (`EngineQueueClient`, priority DOCUMENTS), so a chat
answer waits for one batch at most, never for a whole indexing run, and never races it.

Re-index triggers: opening a collection, a change under its folders (QFileSystemWatcher,
debounced), and a re-scan every few minutes for what the watcher misses (network drives, too
many folders). All are cheap: the indexer only re-reads files whose size or mtime changed.
A collection the user stopped is left alone by these automatic runs until they resume it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from app.core.cancel import Cancelled, CancelToken
from app.core.i18n import translate
from app.ui.tasks import ProgressFn, TaskHandle, run_task

if TYPE_CHECKING:
    from app.core.documents.index import Collection
    from app.core.engine.service import EngineService
    from app.core.settings import SettingsStore

log = logging.getLogger("enclave.ui.documents")

RESCAN_INTERVAL_MS = 5 * 60 * 1000
WATCH_DEBOUNCE_MS = 2000
MAX_WATCHED_FOLDERS = 2000  # folders + files: inotify watches are a limited resource
PROGRESS_INTERVAL_S = 0.1
CANCEL_POLL_S = 0.2  # how soon a cancelled run stops waiting for its turn at the engine
# Chunks per embedding request: a chat answer waits for at most one such batch. Passages are
# <= 256 tokens (~160 on average in the PostgreSQL manual), so 8 are ~1,300 tokens: ~0.2 s on a
# 2-core CPU (onnxruntime, bench_embedding.py). The indexer sends them shortest first over a
# flush of up to 128 (indexer.FLUSH_CHUNKS), so the 8 of a request are of about one length and
# hardly padded. A request costs only a few milliseconds of pipe and queue, and the next files
# are extracted meanwhile, so 8 keeps the chat's wait short at little speed cost: the window
# indexes at 0.96-1.03 of `enclave index`'s speed (317 pages, 2026-12-02).
EMBED_BATCH = 8


class EngineQueueClient:
    """`embed` on an engine (the local host, or the server when documents embed there), one
    DOCUMENTS job on the engine queue per call; waits for it (call this from an IO worker, never
    from the engine queue's own thread)."""

    def __init__(self, service: EngineService, cancel: CancelToken, engine: Any = None) -> None:
        self._service = service
        self._cancel = cancel
        self._engine = engine if engine is not None else service.local

    # What a RemoteEmbedder asks of its engine besides embed (names, not model calls).
    @property
    def where(self) -> str:
        return str(self._engine.where)

    @property
    def model_name(self) -> str:
        return str(self._engine.model_name)

    @property
    def embedding_model(self) -> str:
        return str(getattr(self._engine, "embedding_model", "") or "")

    def list_models(self) -> list[str]:
        return list(self._engine.list_models())

    def embed(
        self,
        texts: list[str],
        model_path: Path | str | None = None,
        kind: str = "document",
        **options: Any,
    ) -> Any:
        """`kind`: "query" for search questions (the model's query prompt), else passages."""
        from app.core.engine.queue import DOCUMENTS

        started = threading.Event()

        def call(_engine: Any, _token: CancelToken) -> Any:
            started.set()
            # Cancelled (or the window closing): do not start the engine again for nothing.
            self._cancel.raise_if_cancelled()
            if kind != "document":  # only then: an engine need not know prompts to embed passages
                options["kind"] = kind
            return self._engine.embed(texts, model_path, **options)

        job = self._service.queue.submit(call, priority=DOCUMENTS, name="documents-embed")
        while True:
            try:
                return job.result(timeout=CANCEL_POLL_S)
            except TimeoutError:
                # Cancelled while it still waits for its turn (behind a long chat answer): drop
                # it. A batch that runs is let finish (a second or two): its vectors are kept.
                if self._cancel.cancelled and not started.is_set():
                    job.cancel()
                    raise Cancelled() from None


@dataclass(frozen=True, slots=True)
class JobResult:
    report: Any  # app.core.documents.indexer.IndexReport
    folders: list[str]  # to watch for changes


def embedding_model_path(setting: str) -> Path:
    from app.core import paths

    return Path(setting).expanduser() if setting else paths.default_embedding_model()


def _index_job(name: str, service: EngineService | None, settings: Any) -> Any:
    """The worker function for one run (see run_task)."""

    def work(progress: ProgressFn, cancel: CancelToken) -> JobResult:
        from app.core.documents.engine_embedder import EngineEmbedder
        from app.core.documents.index import DocumentIndex
        from app.core.documents.indexer import IndexProgress, index_collection
        from app.core.documents.local_embedder import model_id_for

        last_time = [0.0]
        last_phase = [""]

        def throttled(p: IndexProgress) -> None:
            now = time.monotonic()
            # Never drop the step that completes a phase: the bar would stay at "5 of 6".
            complete = p.files_total > 0 and p.files_done == p.files_total
            if p.phase != last_phase[0] or complete or now - last_time[0] >= PROGRESS_INTERVAL_S:
                last_time[0], last_phase[0] = now, p.phase
                progress(p)

        path = embedding_model_path(settings.embedding_model)
        on_server = service is not None and service.is_remote and settings.server_embeddings
        with DocumentIndex() as idx:
            collection = idx.collection(name)
            embedder: Any = None
            why: str | None = None
            if service is None:
                why = translate("documents_indexing", "the engine is not available")
            elif on_server:
                # The user chose the server's embeddings (Settings): the same embedder as the
                # chat's documents step, so the vectors of a collection and its questions match.
                from app.core.documents.remote_embedder import RemoteEmbedder

                client = EngineQueueClient(service, cancel, service.engine)
                embedder = RemoteEmbedder(client)
                if collection.embed_model_id == embedder.model_id:  # known: no probe needed
                    embedder = RemoteEmbedder(client, model=embedder.model, dim=collection.embed_dim)
            elif not path.is_file():
                why = translate(
                    "documents_indexing", "the embedding model is missing ({file})"
                ).format(file=path.name)
            else:
                same_model = collection.embed_model_id == model_id_for(path)
                known = collection.embed_dim if same_model else None
                embedder = EngineEmbedder(EngineQueueClient(service, cancel), path, dim=known)
                try:
                    _ = embedder.dim  # loads the model in the engine host when it is new
                except Cancelled:
                    raise
                except Exception as exc:
                    log.warning("embedding model unusable: %s", exc)
                    embedder = None
                    why = translate("documents_indexing", "{file} could not be loaded").format(file=path.name)
            from app.core.documents.extract import Limits

            report = index_collection(
                idx, name, embedder, progress=throttled, cancel=cancel,
                no_embedder_reason=why, batch_size=EMBED_BATCH,
                limits=Limits(ocr=settings.read_scanned_pages),
            )
            folders = _folders_to_watch(collection.roots, idx.files(collection.id))
        return JobResult(report, folders)

    return work


def _folders_to_watch(roots: list[str], files: dict[str, Any]) -> list[str]:
    """Folders first (a file added, removed or saved by replacing it), then the files
    themselves (saved in place), up to the cap; the periodic re-scan covers the rest."""
    folders = {r for r in roots if os.path.isdir(r)}
    folders.update(os.path.dirname(p) for p in files)
    watched = sorted(folders)
    watched += sorted(p for p in files if p not in folders)
    return watched[:MAX_WATCHED_FOLDERS]


class IndexingController(QObject):
    """The queue of indexing runs and what starts them. Signals arrive on the GUI thread."""

    started = Signal(str)  # collection
    progress = Signal(str, object)  # collection, IndexProgress
    finished = Signal(str, object)  # collection, IndexReport
    stopped = Signal(str)  # collection (cancelled)
    failed = Signal(str, str)  # collection, message
    idle = Signal()  # nothing running or queued
    busy_changed = Signal()  # busy_names() changed: a run was queued or dropped (not: ended)

    def __init__(
        self, service: EngineService | None, settings: SettingsStore, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._service = service  # None: indexing without embeddings (keyword search only)
        self._settings = settings
        self._queue: list[str] = []
        self._current: tuple[str, TaskHandle] | None = None
        self._stopped_by_user: set[str] = set()
        self._closing = False
        self._collections: dict[str, str] = {}  # name -> state, from the page's last load
        self.watcher = QFileSystemWatcher(self)
        self._watched: dict[str, set[str]] = {}  # path -> collections
        self._changed: set[str] = set()
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(WATCH_DEBOUNCE_MS)
        self.debounce.timeout.connect(self._reindex_changed)
        self.watcher.directoryChanged.connect(self._on_path_changed)
        self.watcher.fileChanged.connect(self._on_path_changed)
        self.rescan_timer = QTimer(self)
        self.rescan_timer.setInterval(RESCAN_INTERVAL_MS)
        self.rescan_timer.timeout.connect(self.rescan_all)
        self.rescan_timer.start()

    # ---- state ---------------------------------------------------------------------------
    @property
    def current(self) -> str | None:
        return self._current[0] if self._current else None

    def is_busy(self, name: str) -> bool:
        return self.current == name or name in self._queue

    def busy_names(self) -> frozenset[str]:
        """The collections a run works on or waits for."""
        return frozenset(self._queue) | ({self.current} if self.current else set())

    def was_stopped(self, name: str) -> bool:
        return name in self._stopped_by_user

    def set_collections(self, collections: list[Collection]) -> None:
        """The page's latest list: names and states, for the automatic triggers."""
        self._collections = {c.name: c.state for c in collections}
        gone = [p for p, names in self._watched.items() if not names & self._collections.keys()]
        if gone:
            self.watcher.removePaths(gone)
            for path in gone:
                self._watched.pop(path, None)

    # ---- starting and stopping -----------------------------------------------------------
    def request(self, name: str, *, user: bool = True) -> None:
        """Queue a run. Automatic requests (user=False) skip collections the user stopped."""
        if self._closing:
            return
        if user:
            self._stopped_by_user.discard(name)
        elif name in self._stopped_by_user:
            return
        if not self.is_busy(name):
            self._queue.append(name)
        self._start_next()
        self.busy_changed.emit()

    def cancel(self, name: str | None = None) -> None:
        """Stop the running job (or drop a queued one); it resumes when asked, or at start-up."""
        target = name or self.current
        if target is None:
            return
        self._stopped_by_user.add(target)
        if target in self._queue:
            self._queue.remove(target)
        if self._current and self._current[0] == target:
            self._current[1].cancel()
        self.busy_changed.emit()

    def shutdown(self) -> None:
        """The window closes: stop at the next file; the next start resumes."""
        self._closing = True
        self._queue.clear()
        self.rescan_timer.stop()
        self.debounce.stop()
        if self._current:
            self._current[1].cancel()
        self.busy_changed.emit()

    def forget(self, name: str) -> None:
        """A collection was deleted or renamed away."""
        self._stopped_by_user.discard(name)
        if name in self._queue:
            self._queue.remove(name)
        for names in self._watched.values():
            names.discard(name)
        self.busy_changed.emit()

    def resume_pending(self) -> None:
        """At start-up: collections whose last run did not finish continue, in the background."""

        def find(_progress: ProgressFn, _cancel: CancelToken) -> list[str]:
            from app.core.documents.index import DocumentIndex
            from app.core.documents.indexer import pending_collections

            with DocumentIndex() as idx:
                return pending_collections(idx)

        def resume(names: list[str]) -> None:
            for name in names:
                log.info("resuming indexing of a collection")
                self.request(name, user=False)

        run_task(find, name="documents-pending", on_result=resume)

    def rescan_all(self) -> None:
        for name, state in self._collections.items():
            if state == "ready":
                self.request(name, user=False)

    def _start_next(self) -> None:
        if self._current is not None or not self._queue or self._closing:
            if self._current is None and not self._queue:
                self.idle.emit()
            return
        name = self._queue.pop(0)
        handle = run_task(
            _index_job(name, self._service, self._settings.current),
            name="documents-index",
            on_progress=lambda p: self.progress.emit(name, p),
            on_result=lambda result: self._done(name, result),
            on_error=lambda exc: self._error(name, exc),
            on_cancelled=lambda: self._cancelled(name),
        )
        self._current = (name, handle)
        self.started.emit(name)

    def _finish_current(self) -> None:
        # No busy_changed here: the page marks the run as ended when it has read the collection
        # again (IndexingFeedback), so it never shows the old record as "stopped before the end".
        self._current = None
        QTimer.singleShot(0, self._start_next)

    def _done(self, name: str, result: JobResult) -> None:
        self._finish_current()
        self._watch(name, result.folders)
        self.finished.emit(name, result.report)

    def _error(self, name: str, exc: Exception) -> None:
        self._finish_current()
        self.failed.emit(name, getattr(exc, "message", None) or str(exc))

    def _cancelled(self, name: str) -> None:
        self._finish_current()
        self.stopped.emit(name)

    # ---- watching for changes ------------------------------------------------------------
    def _watch(self, name: str, folders: list[str]) -> None:
        if self._closing:
            return
        wanted = set(folders)
        for path, names in list(self._watched.items()):
            if name in names and path not in wanted:
                names.discard(name)
        # A file deleted and written again loses its watch: compare with what Qt really watches.
        active = set(self.watcher.directories()) | set(self.watcher.files())
        room = max(0, MAX_WATCHED_FOLDERS - len(active))
        new = [p for p in folders if p not in active][:room]
        if new:
            self.watcher.addPaths(new)
        for path in folders:
            if path in active or path in new:
                self._watched.setdefault(path, set()).add(name)

    def _on_path_changed(self, path: str) -> None:
        self._changed.update(self._watched.get(path, set()))
        self.debounce.start()

    def _reindex_changed(self) -> None:
        changed, self._changed = self._changed, set()
        for name in sorted(changed):
            if name in self._collections:
                self.request(name, user=False)
