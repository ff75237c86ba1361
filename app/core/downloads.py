"""Model downloads: resumable, verified, cancellable, with a persistent queue.

Two layers, both blocking and meant for a worker thread:

- `download_model(repo_id, filename, ...) -> Path`: one model (one .gguf, or every part of a
  split set). Progress goes to `on_progress(Progress)` about ten times a second; a
  `CancelToken` stops it within a fraction of a second, even when the server stalls.
- `DownloadManager`: the queue the GUI shows. `add()` / `pause()` / `resume()` / `cancel()` /
  `remove()` are quick and thread-safe (call them from the GUI thread); `run_all()` /
  `run_next()` do the work on one worker thread. The queue is saved in
  `<data>/downloads.json`, so a download interrupted by closing or killing the app continues
  where it stopped the next time `run_all()` runs.

How a file travels (why each step exists):

1. Names are checked first: a repo or file name that would land outside the models folder
   (`../`, absolute paths, backslashes) is refused before any network call (`UnsafePathError`).
2. The revision is pinned to the commit the file listing came from, and the expected size and
   SHA-256 come from the hub's LFS metadata (`HfApi.model_info(files_metadata=True)`).
3. Free disk space is checked before starting (`NotEnoughSpaceError`).
4. Bytes go to `<models>/.downloads/<owner>/<repo>/<file>.part`. This uses huggingface_hub's own
   transfer functions, `get_hf_file_metadata` (the HEAD that follows the hub's redirect and reads
   `X-Linked-Size`/`X-Linked-Etag`/`X-Repo-Commit`) and `http_get` (the streaming GET with
   `Range` resume, its own retries and timeouts) -- the same two calls `hf_hub_download` makes.
   We call them directly because `hf_hub_download` (huggingface_hub 2.x) writes to a
   process-unique temporary file and deletes it on any error, so a paused, cancelled or killed
   download could never resume from its bytes. No hand-written HTTP client is involved.
5. The SHA-256 is computed while the bytes arrive (on a helper thread) and compared with the
   hub's; a mismatch deletes the partial file and raises `VerificationError`.
6. Only when every part is verified are the files moved (`os.replace`, same volume) to
   `<models>/<owner>/<repo>/<file>`, so the library never sees half a model.

Connection drops and stalls are retried with exponential backoff (1, 2, 4 ... 30 s), resuming
with `Range`; a stall is noticed by huggingface_hub's read timeout (`HF_HUB_DOWNLOAD_TIMEOUT`,
10 s by default). Cancel does not wait for that timeout: the transfer runs on an inner daemon
thread that is abandoned (and can no longer write) the moment the token is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

from app.core import paths
from app.core.cancel import Cancelled
from app.core.cancel import CancelToken as BaseCancelToken
from app.core.hub import (
    FilePart,
    HubError,
    InvalidNameError,
    NetworkError,
    check_repo_id,
    endpoint,
    ensure_online,
    is_safe_relative,
    model_files,
    resolve_token,
    translate_error,
)
from app.core.settings import Settings, atomic_write_text, load_settings

log = logging.getLogger(__name__)

STAGING_DIR = ".downloads"
PART_SUFFIX = ".part"
DISK_MARGIN = 64 * 1024 * 1024  # keep this much free beyond the download itself
SOCKET_READ = 1024 * 1024
PROGRESS_INTERVAL = 0.1
State = Literal["queued", "downloading", "paused", "failed", "done", "cancelled"]


# -- errors ---------------------------------------------------------------------------------
class DownloadError(HubError):
    """A download problem worded for the user."""


class VerificationError(DownloadError):
    def __init__(self, filename: str) -> None:
        super().__init__(
            f"The downloaded file {filename} is damaged: its checksum does not match the one "
            "Hugging Face published. It was deleted and not added to your models; "
            "please download it again."
        )


class NotEnoughSpaceError(DownloadError):
    def __init__(self, needed: int, free: int, where: Path) -> None:
        self.needed, self.free = needed, free
        super().__init__(
            f"Not enough disk space: this model needs {format_bytes(needed)} but only "
            f"{format_bytes(free)} is free in {where}. Free some space or choose another "
            "models folder in Settings."
        )


class UnsafePathError(DownloadError, InvalidNameError):
    def __init__(self, name: str) -> None:
        DownloadError.__init__(
            self,
            f"Refused to save {name!r}: that name would put the file outside the models folder.",
        )


class DownloadCancelled(Cancelled):
    """Raised by download_model when its CancelToken is set. `reason`: cancel, pause, shutdown."""

    def __init__(self, reason: str = "cancel") -> None:
        super().__init__("Download paused." if reason == "pause" else "Download cancelled.")
        self.reason = reason


# -- small pieces ---------------------------------------------------------------------------
class CancelToken(BaseCancelToken):
    """app.core.cancel's token plus a reason ("cancel", "pause", "shutdown").

    download_model accepts any app.core.cancel.CancelToken; a plain one means "cancel".
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason = "cancel"

    def cancel(self, reason: str = "cancel") -> None:
        self.reason = reason
        super().cancel()


def _reason(token: BaseCancelToken) -> str:
    return str(getattr(token, "reason", "cancel"))


def _check(token: BaseCancelToken) -> None:
    if token.cancelled:
        raise DownloadCancelled(_reason(token))


@dataclass(frozen=True)
class Progress:
    """A progress report. `speed` in bytes/s; `eta` in seconds (None: unknown)."""

    job_id: str
    repo_id: str
    filename: str
    downloaded: int
    total: int
    speed: float
    eta: float | None
    state: str  # "checking" | "downloading" | "retrying" | "verifying" | "done"
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.downloaded / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def safe_model_path(models_dir: Path, repo_id: str, filename: str) -> Path:
    """`<models>/<owner>/<repo>/<filename>`, or UnsafePathError if it would escape `models_dir`."""
    try:
        check_repo_id(repo_id)
    except InvalidNameError as exc:
        raise UnsafePathError(repo_id) from exc
    if not is_safe_relative(filename):
        raise UnsafePathError(filename)
    root = models_dir.resolve()
    target = (root / repo_id / filename).resolve()
    if not target.is_relative_to(root) or target == root:
        raise UnsafePathError(filename)
    return target


def staging_path(models_dir: Path, repo_id: str, filename: str) -> Path:
    safe_model_path(models_dir, repo_id, filename)
    return models_dir.resolve() / STAGING_DIR / repo_id / (filename + PART_SUFFIX)


def free_space(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def _configure_hf() -> None:
    """Settings of huggingface_hub that matter for us, applied at run time.

    - Telemetry off: otherwise each request's user agent may trigger a fetch of the hub's
      agent registry.
    - No re-chunking (`DOWNLOAD_CHUNK_SIZE = None`): `http_get` otherwise asks httpx for
      10 MiB chunks, and httpx's ByteChunker copies every byte through a BytesIO to cut them.
      With None each socket read (at most SOCKET_READ bytes) goes straight to our writer, so
      bytes reach the disk as soon as they arrive and a killed app loses well under 1 MB.
      Measured on loopback: 0.48 -> 0.76 of curl's speed (tests/benchmarks/bench_download.py).
    - 1 MiB socket reads in httpcore (see below).
    """
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.DOWNLOAD_CHUNK_SIZE = None  # type: ignore[assignment]
    # httpcore reads the socket 64 KiB at a time and parses each read in Python (h11); 1 MiB
    # reads halve the CPU per byte (measured on loopback). Optional: skipped if it moves.
    try:
        from httpcore2._sync.http11 import HTTP11Connection

        if getattr(HTTP11Connection, "READ_NUM_BYTES", SOCKET_READ) < SOCKET_READ:
            HTTP11Connection.READ_NUM_BYTES = SOCKET_READ
    except ImportError:
        pass


# -- hashing writer -------------------------------------------------------------------------
class _HashingWriter:
    """The file object handed to `http_get`: writes to disk and feeds SHA-256 on a helper thread.

    Once `close()` has run (cancel, pause), any further write from an abandoned transfer
    thread raises instead of touching the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch()
        self._fh = open(path, "r+b", buffering=0)  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._closed = False
        self.bytes_written = 0  # this run
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self._hash = hashlib.sha256()
        self._thread: threading.Thread | None = None
        self._rehash(self._fh.seek(0, os.SEEK_END))

    @property
    def size(self) -> int:
        return self._fh.tell()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._hash_loop, name="sha256", daemon=True)
        self._thread.start()

    def _hash_loop(self) -> None:
        while (block := self._queue.get()) is not None:
            self._hash.update(block)

    def _drain(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _rehash(self, upto: int) -> None:
        """Hash the first `upto` bytes already on disk (a resumed download), then go on."""
        self._drain()
        self._hash = hashlib.sha256()
        with open(self.path, "rb") as handle:
            left = upto
            while left > 0 and (block := handle.read(min(left, 8 << 20))):
                self._hash.update(block)
                left -= len(block)
        self._fh.seek(upto)
        self._start_thread()

    # file-object API used by http_get
    def write(self, data: bytes) -> int:
        with self._lock:
            if self._closed:
                raise DownloadCancelled("abandoned")
            written = self._fh.write(data) or 0
            while written < len(data):  # raw files may write short
                written += self._fh.write(data[written:]) or 0
            self._queue.put(bytes(data))
            self.bytes_written += len(data)
            return len(data)

    def tell(self) -> int:
        return self._fh.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        with self._lock:
            if self._closed:
                raise DownloadCancelled("abandoned")
            return self._fh.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        with self._lock:
            if self._closed:
                raise DownloadCancelled("abandoned")
            size = self._fh.tell() if size is None else size
            self._fh.truncate(size)
            self._rehash(size)  # the server ignored Range: start the hash over
            return size

    def flush(self) -> None:
        pass

    def hexdigest(self) -> str:
        with self._lock:
            self._drain()
            digest = self._hash.hexdigest()
            self._start_thread()
            return digest

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._drain()
            self._fh.close()


class _CancelBar:
    """A silent stand-in for tqdm: `http_get` calls update() per chunk; we stop it there."""

    token: BaseCancelToken

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _CancelBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: float | None = 1) -> None:
        _check(self.token)


def _run_abandonable(
    fn: Callable[[], None], cancel: BaseCancelToken, on_tick: Callable[[], None]
) -> None:
    """Run fn on a daemon thread; return its result, or raise DownloadCancelled at once."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome.append(exc)

    worker = threading.Thread(target=target, name="hf-transfer", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(PROGRESS_INTERVAL)
        on_tick()
        if cancel.cancelled and worker.is_alive():
            raise DownloadCancelled(_reason(cancel))
    if outcome and outcome[0] is not None:
        raise outcome[0]


# -- one model ------------------------------------------------------------------------------
@dataclass
class _Meter:
    job_id: str
    repo_id: str
    filename: str
    total: int
    done_before: int = 0  # completed parts + bytes on disk when this run started
    callback: ProgressCallback | None = None
    speed: float = 0.0
    _last_t: float = field(default_factory=time.monotonic)
    _last_n: int = 0

    def report(self, downloaded: int, state: str, message: str = "", force: bool = False) -> None:
        now = time.monotonic()
        dt = now - self._last_t
        if not force and dt < PROGRESS_INTERVAL:
            return
        if dt > 0 and downloaded >= self._last_n:
            instant = (downloaded - self._last_n) / dt
            self.speed = instant if self.speed == 0 else 0.7 * self.speed + 0.3 * instant
        self._last_t, self._last_n = now, downloaded
        eta = (self.total - downloaded) / self.speed if self.speed > 0 else None
        if self.callback is not None:
            self.callback(
                Progress(
                    self.job_id,
                    self.repo_id,
                    self.filename,
                    downloaded,
                    self.total,
                    self.speed,
                    eta,
                    state,
                    message,
                )
            )


def _report_downloading(meter: _Meter, before: int, on_disk: int) -> None:
    meter.report(before + on_disk, "downloading")


def _is_transient(exc: BaseException) -> bool:
    import httpx2
    from huggingface_hub import errors as hf_errors

    if isinstance(exc, (httpx2.TransportError, TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return status in (408, 429) or status >= 500
    # http_get's "Consistency check failed" when the connection ended short
    return isinstance(exc, OSError) and "Consistency check failed" in str(exc)


def _fetch_part(
    repo_id: str,
    revision: str,
    part: FilePart,
    part_path: Path,
    token: str | None,
    cancel: BaseCancelToken,
    tick: Callable[[int], None],
) -> str:
    """One attempt at one part: HEAD (fresh download URL), then GET from the bytes on disk."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo_id, part.filename, revision=revision, endpoint=endpoint())
    meta = get_hf_file_metadata(url, token=token, endpoint=endpoint())
    if meta.size is not None and meta.size != part.size:
        log.warning(
            "Hub size %s differs from listing %s for %s", meta.size, part.size, part.filename
        )
    headers = build_hf_headers(token=token, library_name="enclave")
    location = meta.location or url
    if _origin(location) != _origin(url):
        headers.pop("authorization", None)  # signed CDN URL: the token stays on the hub
    writer = _HashingWriter(part_path)
    try:
        if writer.size > part.size:
            writer.truncate(0)
        resume = writer.size
        bar = type("_Bar", (_CancelBar,), {"token": cancel})

        def transfer() -> None:
            http_get(
                location,
                cast(BinaryIO, writer),
                resume_size=resume,
                headers=headers,
                expected_size=part.size,
                displayed_filename=part.filename,
                tqdm_class=cast(Any, bar),
            )

        _run_abandonable(transfer, cancel, lambda: tick(writer.size))
        tick(writer.size)
        return writer.hexdigest()
    finally:
        writer.close()


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def resolve_parts(
    repo_id: str,
    filename: str,
    revision: str | None = None,
    *,
    settings: Settings | None = None,
    token: str | None = None,
) -> tuple[str, list[FilePart]]:
    """(commit, parts) for a file name (any part of a split set names the whole set)."""
    details = model_files(repo_id, revision, settings=settings, token=token, include_mmproj=True)
    found = details.find(filename)
    if found is None:
        from app.core.hub import NotFoundError

        raise NotFoundError(f"The file {filename} in {repo_id}")
    return details.revision, list(found.parts)


def download_model(
    repo_id: str,
    filename: str,
    *,
    models_dir: Path | None = None,
    revision: str | None = None,
    parts: Sequence[FilePart] | None = None,
    token: str | None = None,
    settings: Settings | None = None,
    cancel: BaseCancelToken | None = None,
    on_progress: ProgressCallback | None = None,
    job_id: str = "",
    max_failures: int = 8,
    backoff_base: float = 1.0,
    backoff_max: float = 30.0,
) -> Path:
    """Download, verify and place one model; returns the path of its (first) file.

    Blocking. Raises HubError subclasses with plain-words messages, or DownloadCancelled.
    `parts`/`revision` (from a ModelDetails) skip the metadata request; without them the
    file listing is fetched first.
    """
    settings = settings if settings is not None else load_settings()
    models_dir = models_dir or settings.resolved_models_dir()
    cancel = cancel or CancelToken()
    safe_model_path(models_dir, repo_id, filename)  # before any network call
    for part in parts or ():
        safe_model_path(models_dir, repo_id, part.filename)
    ensure_online(settings)
    _configure_hf()
    token = resolve_token(token)
    if parts is None or revision is None:
        revision, parts = resolve_parts(repo_id, filename, revision, settings=settings, token=token)
    parts = list(parts)
    finals = [safe_model_path(models_dir, repo_id, p.filename) for p in parts]
    if all(f.is_file() and f.stat().st_size == p.size for f, p in zip(finals, parts, strict=True)):
        return finals[0]
    for part in parts:
        if not part.sha256:
            raise DownloadError(
                f"Hugging Face gives no checksum for {part.filename}, so Enclave cannot check it."
            )
    staged = [staging_path(models_dir, repo_id, p.filename) for p in parts]
    verified = [s.with_suffix("") for s in staged]  # "<file>" next to "<file>.part": checked

    def on_disk(i: int) -> int:
        if verified[i].is_file():
            return parts[i].size
        return staged[i].stat().st_size if staged[i].is_file() else 0

    total = sum(p.size for p in parts)
    have = sum(on_disk(i) for i in range(len(parts)))
    needed = total - have
    free = free_space(models_dir)
    if needed + DISK_MARGIN > free:
        raise NotEnoughSpaceError(needed, free, models_dir)

    meter = _Meter(job_id, repo_id, parts[0].filename, total, callback=on_progress)
    meter._last_n = have
    meter.report(have, "checking", force=True)
    for index, part in enumerate(parts):
        if verified[index].is_file():
            continue
        before = sum(on_disk(i) for i in range(index))
        failures = 0
        while True:
            _check(cancel)
            start_size = on_disk(index)
            try:
                digest = _fetch_part(
                    repo_id,
                    revision,
                    part,
                    staged[index],
                    token,
                    cancel,
                    partial(_report_downloading, meter, before),
                )
                break
            except DownloadCancelled:
                raise
            except Exception as exc:
                if not _is_transient(exc):
                    raise translate_error(exc, repo_id, token) from exc
                failures = 0 if on_disk(index) > start_size else failures + 1
                if failures >= max_failures:
                    raise NetworkError("the download kept failing") from exc
                wait = min(backoff_max, backoff_base * 2 ** max(failures - 1, 0))
                log.warning(
                    "Download of %s interrupted (%s); retrying in %.0f s", part.filename, exc, wait
                )
                meter.report(
                    before + on_disk(index),
                    "retrying",
                    f"Connection problem; trying again in {wait:.0f} s",
                    force=True,
                )
                if cancel.wait(wait):
                    raise DownloadCancelled(_reason(cancel)) from exc
        meter.report(before + part.size, "verifying", force=True)
        if digest != part.sha256:
            staged[index].unlink(missing_ok=True)
            _prune_empty(models_dir.resolve() / STAGING_DIR)
            raise VerificationError(part.filename)
        os.replace(staged[index], verified[index])
    for src, dst in zip(verified, finals, strict=True):
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
    _prune_empty(models_dir.resolve() / STAGING_DIR)
    meter.report(total, "done", force=True)
    return finals[0]


def discard_partial(models_dir: Path, repo_id: str, filenames: Sequence[str]) -> None:
    """Delete the staged bytes of a cancelled download."""
    for name in filenames:
        staged = staging_path(models_dir, repo_id, name)
        staged.unlink(missing_ok=True)
        staged.with_suffix("").unlink(missing_ok=True)
    _prune_empty(models_dir.resolve() / STAGING_DIR)


def _prune_empty(root: Path) -> None:
    if not root.is_dir():
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            folder.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()


# -- the queue ------------------------------------------------------------------------------
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
    ) -> DownloadJob:
        """Queue a model (no network). Refuses unsafe names at once."""
        models_dir = self.models_dir()
        safe_model_path(models_dir, repo_id, filename)
        for part in parts or ():
            safe_model_path(models_dir, repo_id, part.filename)
        with self._lock:
            for job in self._jobs.values():
                same = job.repo_id == repo_id and job.filename == filename
                if same and job.state in ("queued", "downloading", "paused"):
                    return replace(job)
            job = DownloadJob(
                id=uuid.uuid4().hex[:12],
                repo_id=repo_id,
                filename=filename,
                revision=revision,
                parts=[asdict(p) for p in parts or ()],
                total=sum(p.size for p in parts or ()),
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
                if stop.reason == "shutdown":
                    job.state = "queued"
                elif stop.reason == "pause":
                    job.state = "paused"
                else:
                    job.state = "cancelled"
            if job.state == "cancelled":
                self._discard(job)
        except HubError as exc:
            with self._lock:
                job.state, job.error = "failed", str(exc)
        except Exception as exc:  # never lose the queue to an unexpected bug
            log.exception("Download of %s failed", job.filename)
            with self._lock:
                job.state, job.error = "failed", f"Unexpected problem: {exc}"
        finally:
            with self._lock:
                self._tokens.pop(job.id, None)
            self._save()
        return self.get(job.id)

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
