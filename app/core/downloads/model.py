"""One model's download: checks, retries with backoff, verification, placement.

`download_model(repo_id, filename, ...) -> Path` is blocking and meant for a worker thread.
One model is one .gguf, or every part of a split set. The steps, and why each exists:

1. Names are checked first (placement.safe_model_path), before any network call.
2. The revision is pinned to the commit the file listing came from, and the expected size and
   SHA-256 come from the hub's LFS metadata (`HfApi.model_info(files_metadata=True)`).
3. Free disk space is checked before starting (`NotEnoughSpaceError`).
4. Each part is fetched into its `.part` file (transfer.fetch_part), hashed while it arrives.
5. A checksum mismatch deletes the partial file and raises `VerificationError`.
6. Only when every part is verified are the files moved to their final place.

Connection drops and stalls are retried with exponential backoff (1, 2, 4 ... 30 s), resuming
with `Range`; a stall is noticed by huggingface_hub's read timeout (`HF_HUB_DOWNLOAD_TIMEOUT`,
10 s by default).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from app.core.cancel import CancelToken as BaseCancelToken
from app.core.downloads.errors import (
    CancelToken,
    DiskFullDownloadError,
    DownloadCancelled,
    DownloadError,
    NotEnoughSpaceError,
    VerificationError,
    check_cancelled,
    reason_of,
)
from app.core.downloads.placement import (
    STAGING_DIR,
    free_space,
    prune_empty,
    safe_model_path,
    staging_path,
)
from app.core.downloads.progress import Meter, ProgressCallback
from app.core.downloads.transfer import configure_hf, fetch_part, is_transient
from app.core.errors import is_disk_full
from app.core.hub import (
    FilePart,
    NetworkError,
    model_files,
    translate_error,
)
from app.core.i18n import number, translate
from app.core.net.gate import gate
from app.core.settings import Settings, load_settings

log = logging.getLogger("app.core.downloads")

DISK_MARGIN = 64 * 1024 * 1024  # keep this much free beyond the download itself


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

        raise NotFoundError.file(filename, repo_id)
    return details.revision, list(found.parts)


def _report_downloading(meter: Meter, before: int, on_disk: int) -> None:
    meter.report(before + on_disk, "downloading")


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
    from app.core.policy_rules import download_refusal

    refusal = download_refusal(models_dir, repo_id, filename)  # the organisation's policy
    if refusal:
        raise DownloadError(refusal)
    gate().check("download", settings)
    configure_hf()
    if parts is None or revision is None:
        revision, parts = resolve_parts(repo_id, filename, revision, settings=settings, token=token)
    parts = list(parts)
    finals = [safe_model_path(models_dir, repo_id, p.filename) for p in parts]
    for part in parts:
        if not part.sha256:
            raise DownloadError(
                translate(
                    "model", "Hugging Face gives no checksum for {file}, so Enclave cannot check it."
                ).format(file=part.filename)
            )
    if all(f.is_file() and f.stat().st_size == p.size for f, p in zip(finals, parts, strict=True)):
        # Already there with the right size: the right bytes too? A file of the same size can
        # still be damaged or another version; it is hashed before it counts as downloaded.
        total = sum(p.size for p in parts)
        meter = Meter(job_id, repo_id, parts[0].filename, total, callback=on_progress)
        meter.report(0, "verifying", force=True)
        if all(_sha256_of(f, cancel) == p.sha256 for f, p in zip(finals, parts, strict=True)):
            meter.report(total, "done", force=True)
            return finals[0]
        log.warning("a model file on disk differs from the hub's; downloading it again")
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

    meter = Meter(job_id, repo_id, parts[0].filename, total, callback=on_progress)
    meter._last_n = have
    meter.report(have, "checking", force=True)
    for index, part in enumerate(parts):
        if verified[index].is_file():
            continue
        before = sum(on_disk(i) for i in range(index))
        failures = 0
        while True:
            check_cancelled(cancel)
            start_size = on_disk(index)
            try:
                digest = fetch_part(
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
                if is_disk_full(exc):  # kept for a resume once there is room again
                    raise DiskFullDownloadError(models_dir) from exc
                if not is_transient(exc):
                    raise translate_error(exc, repo_id, token) from exc
                failures = 0 if on_disk(index) > start_size else failures + 1
                if failures >= max_failures:
                    raise NetworkError(translate("model", "the download kept failing")) from exc
                wait = min(backoff_max, backoff_base * 2 ** max(failures - 1, 0))
                log.warning("Download of %s interrupted (%s); retrying in %.0f s", part.filename, exc, wait)
                meter.report(
                    before + on_disk(index),
                    "retrying",
                    translate("model", "Connection problem; trying again in {seconds} s").format(
                        seconds=number(wait)
                    ),
                    force=True,
                )
                if cancel.wait(wait):
                    raise DownloadCancelled(reason_of(cancel)) from exc
        meter.report(before + part.size, "verifying", force=True)
        if digest != part.sha256:
            staged[index].unlink(missing_ok=True)
            prune_empty(models_dir.resolve() / STAGING_DIR)
            raise VerificationError(part.filename)
        os.replace(staged[index], verified[index])
    for src, dst in zip(verified, finals, strict=True):
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
    prune_empty(models_dir.resolve() / STAGING_DIR)
    meter.report(total, "done", force=True)
    return finals[0]


def _sha256_of(path: Path, cancel: BaseCancelToken) -> str:
    """The file's SHA-256 (blocking, cancellable between 8 MB reads)."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            check_cancelled(cancel)
            digest.update(chunk)
    return digest.hexdigest()
