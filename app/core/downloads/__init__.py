"""Model downloads: resumable, verified, cancellable, with a persistent queue.

Two layers, both blocking and meant for a worker thread:

- `download_model(repo_id, filename, ...) -> Path` (model.py): one model (one .gguf, or every
  part of a split set). Progress goes to `on_progress(Progress)` about ten times a second; a
  `CancelToken` stops it within a fraction of a second, even when the server stalls.
- `DownloadManager` (manager.py): the queue the GUI shows, saved in `<data>/downloads.json`.

The modules, one job each (arrows point down only):

    manager.py    DownloadManager, DownloadJob: the persistent queue
    model.py      download_model: checks, retry/backoff, verification, placement
    transfer.py   one attempt at one file with huggingface_hub's HEAD + http_get; cancel
    writer.py     HashingWriter: the .part file, SHA-256 on a helper thread
    placement.py  staging and final paths, name safety, free space
    errors.py     DownloadError and friends, DownloadCancelled, CancelToken with a reason
    progress.py   Progress reports and the meter that throttles them

Everything other modules use is importable from `app.core.downloads` itself.
"""

from __future__ import annotations

from app.core.downloads.errors import (
    CancelToken,
    DownloadCancelled,
    DownloadError,
    NotEnoughSpaceError,
    UnsafePathError,
    VerificationError,
)
from app.core.downloads.manager import DownloadJob, DownloadManager, State, queue_path
from app.core.downloads.model import DISK_MARGIN, download_model, resolve_parts
from app.core.downloads.placement import (
    PART_SUFFIX,
    STAGING_DIR,
    discard_partial,
    free_space,
    safe_model_path,
    staging_path,
)
from app.core.downloads.progress import PROGRESS_INTERVAL, Progress, ProgressCallback, format_bytes
from app.core.downloads.transfer import SOCKET_READ

__all__ = [
    "DISK_MARGIN",
    "PART_SUFFIX",
    "PROGRESS_INTERVAL",
    "SOCKET_READ",
    "STAGING_DIR",
    "CancelToken",
    "DownloadCancelled",
    "DownloadError",
    "DownloadJob",
    "DownloadManager",
    "NotEnoughSpaceError",
    "Progress",
    "ProgressCallback",
    "State",
    "UnsafePathError",
    "VerificationError",
    "discard_partial",
    "download_model",
    "format_bytes",
    "free_space",
    "queue_path",
    "resolve_parts",
    "safe_model_path",
    "staging_path",
]
