"""One attempt at one file, through huggingface_hub's own transfer functions.

`get_hf_file_metadata` (the HEAD that follows the hub's redirect and reads
`X-Linked-Size`/`X-Linked-Etag`/`X-Repo-Commit`) and `http_get` (the streaming GET with `Range`
resume, its own retries and timeouts) are the same two calls `hf_hub_download` makes. We call
them directly because `hf_hub_download` (huggingface_hub 2.x) writes to a process-unique
temporary file and deletes it on any error, so a paused, cancelled or killed download could
never resume from its bytes. No hand-written HTTP client is involved.

Cancel does not wait for huggingface_hub's read timeout: the transfer runs on an inner daemon
thread that is abandoned (and can no longer write, see HashingWriter.close) the moment the token
is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

from app.core.cancel import CancelToken as BaseCancelToken
from app.core.downloads.errors import DownloadCancelled, check_cancelled, reason_of
from app.core.downloads.progress import PROGRESS_INTERVAL
from app.core.downloads.writer import HashingWriter
from app.core.hub import FilePart, endpoint
from app.core.net import tokens
from app.core.net.diagnose import is_certificate_error
from app.core.net.transport import prepare_hub

log = logging.getLogger("app.core.downloads")

SOCKET_READ = 1024 * 1024


def configure_hf() -> None:
    """Settings of huggingface_hub that matter for us, applied at run time.

    - Telemetry off, no implicit token, our HTTP client (gate, proxy, OS certificates):
      app.core.net.transport.prepare_hub, the one place for the whole process.
    - No re-chunking (`DOWNLOAD_CHUNK_SIZE = None`): `http_get` otherwise asks httpx for
      10 MiB chunks, and httpx's ByteChunker copies every byte through a BytesIO to cut them.
      With None each socket read (at most SOCKET_READ bytes) goes straight to our writer, so
      bytes reach the disk as soon as they arrive and a killed app loses well under 1 MB.
      Measured on loopback: 0.48 -> 0.76 of curl's speed (tests/benchmarks/bench_download.py).
    - 1 MiB socket reads in httpcore (see below).
    """
    from huggingface_hub import constants

    prepare_hub()
    constants.DOWNLOAD_CHUNK_SIZE = None  # type: ignore[assignment]
    # httpcore reads the socket 64 KiB at a time and parses each read in Python (h11); 1 MiB
    # reads halve the CPU per byte (measured on loopback). Optional: skipped if it moves.
    try:
        from httpcore2._sync.http11 import HTTP11Connection

        if getattr(HTTP11Connection, "READ_NUM_BYTES", SOCKET_READ) < SOCKET_READ:
            HTTP11Connection.READ_NUM_BYTES = SOCKET_READ
    except ImportError:
        pass


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
        check_cancelled(self.token)


def run_abandonable(
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
            raise DownloadCancelled(reason_of(cancel))
    if outcome and outcome[0] is not None:
        raise outcome[0]


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt (resuming with Range): connection trouble, 408/429/5xx, short body."""
    import httpx2
    from huggingface_hub import errors as hf_errors

    # A certificate this computer does not trust, or a proxy that refuses: waiting won't help.
    if isinstance(exc, httpx2.ProxyError) or is_certificate_error(exc):
        return False
    if isinstance(exc, (httpx2.TransportError, TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        return status in (408, 429) or status >= 500
    # http_get's "Consistency check failed" when the connection ended short
    return isinstance(exc, OSError) and "Consistency check failed" in str(exc)


def fetch_part(
    repo_id: str,
    revision: str,
    part: FilePart,
    part_path: Path,
    token: str | None,
    cancel: BaseCancelToken,
    tick: Callable[[int], None],
) -> str:
    """One attempt at one part: HEAD (fresh download URL), then GET from the bytes on disk.

    The HEAD goes anonymously first; the saved token only when the repo answers 401/403
    (app.core.net.tokens), and the GET then sends what the HEAD needed. `token`: a caller's
    own, in place of the saved one."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo_id, part.filename, revision=revision, endpoint=endpoint())
    meta, sent = tokens.with_token_on_denial(
        repo_id, token, lambda send: get_hf_file_metadata(url, token=send, endpoint=endpoint())
    )
    if meta.size is not None and meta.size != part.size:
        log.warning(
            "Hub size %s differs from listing %s for %s", meta.size, part.size, part.filename
        )
    headers = build_hf_headers(token=sent, library_name="enclave")
    location = meta.location or url
    if _origin(location) != _origin(url):
        headers.pop("authorization", None)  # signed CDN URL: the token stays on the hub
    writer = HashingWriter(part_path)
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

        run_abandonable(transfer, cancel, lambda: tick(writer.size))
        tick(writer.size)
        return writer.hexdigest()
    finally:
        writer.close()


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()
