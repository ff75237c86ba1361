"""The `.part` file writer handed to huggingface_hub's `http_get`.

It writes each socket read straight to disk and computes the SHA-256 on a helper thread while
the bytes arrive, so verification costs no extra pass over the file and hashing never slows
the socket loop. A resumed download first re-hashes the bytes already on disk.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from pathlib import Path

from app.core.downloads.errors import DownloadCancelled


class HashingWriter:
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
