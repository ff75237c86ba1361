"""Reading ahead of the embedder, for the indexer (indexer.py): each file to do is hashed,
extracted and chunked on one worker thread, at most PREFETCH_FILES ahead, so extraction and
embedding overlap while the memory held stays bounded."""

from __future__ import annotations

import functools
import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.core.documents.chunking import Chunk, ChunkConfig, TokenCounter, chunk_passages
from app.core.documents.extract import ExtractionError, Limits, extract_file
from app.core.documents.folder_scan import Seen
from app.core.documents.index import FileRecord


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(slots=True)
class PreparedFile:
    seen: Seen
    sha256: str
    chunks: list[Chunk]
    n_pages: int | None
    is_new: bool
    note: str | None = None  # what was left out (a limit reached), kept in the file's row


PREFETCH_FILES = 8  # files extracted ahead of the embedder (bounds the memory held)


@dataclass(slots=True)
class FileWork:
    """One file of the run, read on the prefetch thread. `outcome`: the prepared chunks, the
    extraction's refusal, the read error, or None (same bytes as stored)."""

    seen: Seen
    record: FileRecord | None
    sha256: str | None
    outcome: PreparedFile | ExtractionError | OSError | None


class FilePrefetch:
    """Hash, extract and chunk the files to do, in order, on one worker thread, at most
    PREFETCH_FILES ahead of the consumer. Iterating yields `FileWork`; an unexpected error on the
    worker is raised in the consumer. Leaving the `with` stops the worker."""

    def __init__(
        self,
        todo: list[tuple[Seen, FileRecord | None]],
        config: ChunkConfig | None,
        limits: Limits,
        cancelled: Callable[[], bool],
        on_status: Callable[[Seen, str], None],
        count_tokens: TokenCounter | None = None,
    ) -> None:
        self._todo = todo
        self._on_status = on_status
        self._config = config
        self._count_tokens = count_tokens
        self._limits = limits
        self._cancelled = cancelled
        self._queue: queue.Queue[FileWork | BaseException | None] = queue.Queue(PREFETCH_FILES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-prefetch", daemon=True)

    def __enter__(self) -> Iterator[FileWork]:
        self._thread.start()
        return self._items()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a worker waiting to put
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def _items(self) -> Iterator[FileWork]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: FileWork | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for seen, record in self._todo:
                if self._stop.is_set() or self._cancelled():
                    break
                if not self._put(self._one(seen, record)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
            return
        self._put(None)

    def _one(self, seen: Seen, record: FileRecord | None) -> FileWork:
        try:
            sha = file_sha256(seen.path)
        except OSError as exc:
            return FileWork(seen, record, None, exc)
        if record is not None and record.sha256 == sha and record.status != "skipped":
            return FileWork(seen, record, sha, None)
        try:
            extracted = extract_file(
                Path(seen.path), self._limits, on_status=functools.partial(self._on_status, seen)
            )
        except ExtractionError as exc:
            return FileWork(seen, record, sha, exc)
        passages = extracted.passages
        pages = [p.page for p in passages if p.page is not None]
        prepared = PreparedFile(
            seen,
            sha,
            chunk_passages(passages, self._config, self._count_tokens),
            max(pages) if pages else None,
            record is None,
            "; ".join(extracted.notes) or None,
        )
        return FileWork(seen, record, sha, prepared)
