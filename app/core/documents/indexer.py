"""The indexing job: scan -> diff -> extract -> chunk -> embed (batched) -> store.

    report = index_collection(index, "Company docs", embedder, progress=cb, cancel=token)

Blocking; run it on a worker thread (ui/tasks.py). `progress(IndexProgress)` is called from that
thread after every file and every embedding batch; `cancel` is a `CancelToken` the GUI sets.

Incremental: a file whose size and mtime are unchanged is not opened; one whose stat changed is
hashed, and only re-processed when its sha256 changed. Files gone from disk leave the index.
A root folder that is missing (an unplugged drive) keeps its files, and is reported.

Resumable: each file is stored in its own transaction, so after Cancel, a crash or a restart,
running the job again continues with the files not yet stored. Chunks stored without vectors
(cancelled during embedding, no embedding model) get their vectors on the next run ("embedding"
phase). `collections.state` stays "indexing" until a run completes; `pending_collections()`
lists the ones to resume at start-up.

Another embedding model (the user chose one): the old model's vectors stay and are still
searched (search.py embeds the question with the old model for such a collection) while the new
model's are written beside them ("re-embedding" phase, index.begin_model_change), a group of up
to FLUSH_CHUNKS at a time (embedded shortest first, as indexing's flushes are), walking forward by
chunk id; Cancel or a quit keeps the groups written and the next run goes on from there.
When every chunk has its new vector, swap_model puts them in place in one
transaction. A file added or changed while that is under way gets the new model's vectors only
(its old-model vector would be thrown away at the swap, a few batches later): until the swap it
is found by keywords, as every file is between being stored and being embedded.

Logs name files and counts, never document text.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from app.core.documents.chunking import ChunkConfig, TokenCounter, counter_for_model
from app.core.documents.embedding import Embedder, embed_batched
from app.core.documents.extract import (
    DEFAULT_LIMITS,
    ExtractionError,
    Limits,
    skip_reason,
)
from app.core.documents.file_prefetch import FilePrefetch, PreparedFile
from app.core.documents.folder_scan import Seen, cannot_read, scan
from app.core.documents.index import DocumentIndex, FileRecord, display_path
from app.core.errors import DiskFullError, is_disk_full
from app.core.i18n import translate

log = logging.getLogger("enclave.documents.indexer")


class SupportsCancel(Protocol):
    """Anything with a `cancelled` flag, such as app.core.cancel.CancelToken."""

    @property
    def cancelled(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class IndexProgress:
    phase: str  # "scanning" | "indexing" | "embedding" | "re-embedding" | "done"
    # files to (re)process in this run, not the whole collection; in "embedding" and
    # "re-embedding": passages (chunks) embedded so far, and of how many
    files_done: int
    files_total: int
    chunks_done: int  # chunks stored (indexing) or embedded (embedding) in this run
    current_file: str | None
    elapsed_s: float
    eta_s: float | None  # None until there is enough to estimate
    detail: str | None = None  # a slow step inside the current file ("reading scanned page 3 of 12 with OCR")


@dataclass(frozen=True, slots=True)
class FileIssue:
    path: str  # as shown: a name that is not UTF-8 reads with U+FFFD (index.display_path)
    reason: str
    # "skipped" | "password" | "corrupt" | "empty" | "unreadable" | "unsafe" (a zip bomb) |
    # "missing" | "error" (an unchanged file that failed on an earlier run) | "partial" (indexed,
    # but only up to a limit: the reason says which)
    kind: str


def _issue(path: str, reason: str, kind: str) -> FileIssue:
    return FileIssue(display_path(path), reason, kind)


@dataclass(slots=True)
class IndexReport:
    collection: str
    files_seen: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks_added: int = 0
    pages: int = 0
    vectors_computed: int = 0
    failed: list[FileIssue] = field(default_factory=list)
    skipped: list[FileIssue] = field(default_factory=list)
    partial: list[FileIssue] = field(default_factory=list)  # indexed up to a limit
    embedding_model: str | None = None
    note: str | None = None  # e.g. why there are no vectors
    cancelled: bool = False
    seconds: float = 0.0


ProgressCallback = Callable[[IndexProgress], None]

def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


class IndexDiskFullError(DiskFullError):
    def __init__(self, name: str) -> None:
        super().__init__(
            translate(
                "indexer",
                "The disk is full: the index of “{collection}” could not be saved. What was indexed so far "
                "is kept and can be searched; free some space, then index again to continue.",
            ).format(collection=name)
        )


def index_collection(
    index: DocumentIndex,
    name: str,
    embedder: Embedder | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: SupportsCancel | None = None,
    config: ChunkConfig | None = None,
    batch_size: int = 32,
    no_embedder_reason: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    flush_chunks: int | None = None,
) -> IndexReport:
    """Bring the collection's index up to date with its roots. Never raises for one bad file;
    raises CollectionNotFound for an unknown name, IndexDiskFullError when the disk is full
    (each file is stored whole or not at all, so a later run continues). See the module
    docstring. `limits` caps what one file may cost (characters, pages, seconds, zip sizes;
    extract.Limits). `batch_size`: texts per embedder call; `flush_chunks` (FLUSH_CHUNKS):
    chunks gathered before they are embedded, sorted by length, and stored."""
    try:
        return _index_collection(
            index, name, embedder, progress, cancel, config, batch_size, no_embedder_reason,
            limits, FLUSH_CHUNKS if flush_chunks is None else flush_chunks,
        )  # fmt: skip
    except Exception as exc:
        if is_disk_full(exc):
            log.warning("indexing stopped: the disk is full")
            raise IndexDiskFullError(name) from exc
        raise


def _index_collection(
    index: DocumentIndex,
    name: str,
    embedder: Embedder | None,
    progress: ProgressCallback | None,
    cancel: SupportsCancel | None,
    config: ChunkConfig | None,
    batch_size: int,
    no_embedder_reason: str | None,
    limits: Limits,
    flush_chunks: int,
) -> IndexReport:
    started = time.monotonic()
    report = IndexReport(collection=name)
    collection = index.collection(name)
    cid = collection.id
    index.set_state(cid, "indexing")

    def cancelled() -> bool:
        return cancel is not None and cancel.cancelled

    def emit(
        phase: str,
        done: int,
        total: int,
        chunks: int,
        current: str | None,
        fraction: float | None,
        detail: str | None = None,
    ) -> None:
        if progress is None:
            return
        elapsed = time.monotonic() - started
        eta = None
        if fraction is not None and fraction > 0.02 and elapsed > 0.5:
            eta = max(0.0, elapsed / fraction - elapsed)
        progress(IndexProgress(phase, done, total, chunks, current, elapsed, eta, detail))

    # Which model makes the vectors. Another one than last time: "pending", its vectors go
    # beside the old ones, which search keeps using until every chunk has a new one (swap).
    mode = "same"
    count_tokens: TokenCounter | None = None  # the chunker's default: the bundled model's
    if embedder is not None:
        report.embedding_model = embedder.model_id
        model_path = getattr(embedder, "path", None)  # a local file (not a server's model)
        mode = index.begin_model_change(
            cid, embedder.model_id, embedder.dim, str(model_path) if model_path else None
        )
        # Chunks that fit this model's window too, with its prompt (chunking.py).
        count_tokens = counter_for_model(str(model_path)) if model_path else None
        if mode == "pending":
            log.info("embedding model changed for a collection: re-embedding beside the old vectors")
    else:
        report.note = translate(
            "indexer",
            "No embedding model ({reason}): chunks are indexed "
            "for keyword search only; vectors are added on a later run with a model.",
        ).format(reason=no_embedder_reason or translate("indexer", "none given"))

    emit("scanning", 0, 0, 0, None, None)
    found, bad, missing_roots = scan(collection.roots)
    for root in missing_roots:
        report.failed.append(
            _issue(root, translate("indexer", "not found (moved, deleted or unplugged?)"), "missing")
        )
    known = index.files(cid)
    report.files_seen = len(found) + len(bad)

    def store_issue(seen: Seen, record: FileRecord | None, status: str, reason: str) -> None:
        """The file's row says why it is not indexed (written only when that changed)."""
        if (
            record is None
            or record.status != status
            or record.error != reason
            or record.size != seen.size
            or record.mtime_ns != seen.mtime_ns
        ):
            index.store_file(
                cid,
                seen.path,
                size=seen.size,
                mtime_ns=seen.mtime_ns,
                sha256=None,
                status=status,
                error=reason,
            )

    for path, entry in bad.items():
        if entry.kind == "skipped":
            report.skipped.append(_issue(path, entry.reason, "skipped"))
            store_issue(entry.seen, known.get(path), "skipped", entry.reason)
        else:
            report.failed.append(_issue(path, entry.reason, entry.kind))
            store_issue(entry.seen, known.get(path), "error", entry.reason)

    # --- diff -----------------------------------------------------------------------------
    todo: list[tuple[Seen, FileRecord | None]] = []
    for path, seen in found.items():
        record = known.get(path)
        reason = skip_reason(Path(path), seen.size)
        if reason is not None:
            report.skipped.append(_issue(path, reason, "skipped"))
            store_issue(seen, record, "skipped", reason)
            continue
        if (
            record is not None
            and record.size == seen.size
            and record.mtime_ns == seen.mtime_ns
            and record.status != "skipped"
        ):
            report.unchanged += 1
            if record.status == "error":
                report.failed.append(_issue(path, record.error or "error", "error"))
            elif record.error:
                report.partial.append(_issue(path, record.error, "partial"))
            continue
        todo.append((seen, record))
    for path, record in known.items():
        if path not in found and path not in bad and not _under(path, missing_roots):
            index.remove_file(cid, record.id)
            if record.status != "skipped":
                report.removed += 1

    # --- extract, chunk, embed, store ---------------------------------------------------------
    total_bytes = sum(seen.size for seen, _ in todo) or 1
    bytes_done = 0
    files_done = 0
    pending: list[PreparedFile] = []
    embed_ok = embedder is not None

    def flush(with_vectors: bool) -> None:
        nonlocal embed_ok
        if not pending:
            return
        vectors = None
        texts = [c.text for p in pending for c in p.chunks]
        if with_vectors and embed_ok and embedder is not None and texts:
            try:
                vectors = embed_batched(
                    embedder,
                    texts,
                    batch_size,
                    on_batch=lambda n: emit(
                        "indexing",
                        files_done,
                        len(todo),
                        report.chunks_added + n,
                        None,
                        bytes_done / total_bytes,
                    ),
                    should_stop=cancelled,
                    lengths=[c.n_tokens for p in pending for c in p.chunks],
                )
            except Exception as exc:  # the engine died, the model is broken: keep the text
                log.warning("embedding failed, storing chunks without vectors: %s", type(exc).__name__)
                embed_ok = False
                report.note = translate(
                    "indexer", "Embedding failed; these files are searchable by keywords only."
                )
            if vectors is not None and len(vectors) != len(texts):
                vectors = None  # cancelled half-way: store text now, vectors next run
        offset = 0
        for prep in pending:
            n = len(prep.chunks)
            part = vectors[offset : offset + n] if vectors is not None else None
            offset += n
            index.store_file(
                cid,
                prep.seen.path,
                size=prep.seen.size,
                mtime_ns=prep.seen.mtime_ns,
                sha256=prep.sha256,
                status="indexed",
                error=prep.note,
                chunks=prep.chunks,
                # Re-embedding for a new model: these are its vectors, kept beside the old
                # model's column (module docstring).
                vectors=part if mode != "pending" else None,
                next_vectors=part if mode == "pending" else None,
                n_pages=prep.n_pages,
            )
            if part is not None:
                report.vectors_computed += n
            report.chunks_added += n
            report.pages += prep.n_pages or 0
            if prep.is_new:
                report.added += 1
            else:
                report.changed += 1
        pending.clear()

    emit("indexing", 0, len(todo), 0, None, 0.0)

    # Files are read, extracted and chunked on a second thread while this one embeds and
    # stores the ones before them (one pipeline: the text of file N+1 is ready when the
    # vectors of file N are). SQLite is written from this thread only.
    def extraction_status(seen: Seen, detail: str) -> None:
        """What the extraction of a file says while it works (a page read with OCR)."""
        current = display_path(seen.path)
        emit("indexing", files_done, len(todo), report.chunks_added, current,
             bytes_done / total_bytes, detail)  # fmt: skip

    with FilePrefetch(todo, config, limits, cancelled, extraction_status, count_tokens) as prepared:
        for work in prepared:
            if cancelled():
                break  # files read ahead are read again on the next run
            seen, record = work.seen, work.record
            emit(
                "indexing",
                files_done,
                len(todo),
                report.chunks_added,
                display_path(seen.path),
                bytes_done / total_bytes,
            )
            if isinstance(work.outcome, OSError):
                reason = cannot_read(work.outcome)
                report.failed.append(_issue(seen.path, reason, "unreadable"))
                store_issue(seen, record, "error", reason)
            elif work.outcome is None:
                assert record is not None  # same bytes as stored: copied or touched
                index.touch_file(record.id, seen.size, seen.mtime_ns)
                report.unchanged += 1
                if record.status == "error":
                    report.failed.append(_issue(seen.path, record.error or "error", "error"))
            elif isinstance(work.outcome, ExtractionError):
                exc = work.outcome
                log.info("cannot index %s: %s", display_path(Path(seen.path).name), exc.message)
                report.failed.append(_issue(seen.path, exc.message, exc.kind))
                index.store_file(
                    cid,
                    seen.path,
                    size=seen.size,
                    mtime_ns=seen.mtime_ns,
                    sha256=work.sha256,
                    status="error",
                    error=exc.message,
                )
            else:
                prep = work.outcome
                if prep.note:
                    report.partial.append(_issue(seen.path, prep.note, "partial"))
                pending.append(prep)
            files_done += 1
            bytes_done += seen.size
            # The first flushes are small (the first files are searchable at once, and a kill
            # loses little of a small collection), then each one as big as all before, up to
            # flush_chunks (FLUSH_CHUNKS).
            if sum(len(p.chunks) for p in pending) >= max(
                batch_size, min(flush_chunks, report.chunks_added)
            ):
                flush(with_vectors=True)
    # After Cancel the prepared files are stored without vectors (instant); the next run
    # embeds them, so no extraction work is thrown away.
    flush(with_vectors=not cancelled())
    emit("indexing", files_done, len(todo), report.chunks_added, None, 1.0)

    # --- vectors still missing: earlier runs without a model or cancelled; a new model ------------
    if embedder is not None and embed_ok and not cancelled() and mode == "pending":
        _reembed(index, cid, embedder, batch_size, flush_chunks, report, emit, cancelled)
    elif embedder is not None and embed_ok and not cancelled():
        _embed_missing(index, cid, embedder, batch_size, flush_chunks, report, emit, cancelled,
                       next_model=False)  # fmt: skip

    report.cancelled = cancelled()
    report.seconds = time.monotonic() - started
    if not report.cancelled:
        index.set_state(cid, "ready")
    emit("done", files_done, len(todo), report.chunks_added, None, 1.0)
    log.info(
        "indexed collection: +%d ~%d -%d =%d files, %d chunks, %d failed, %d skipped, %.1fs%s",
        report.added,
        report.changed,
        report.removed,
        report.unchanged,
        report.chunks_added,
        len(report.failed),
        len(report.skipped),
        report.seconds,
        " (cancelled)" if report.cancelled else "",
    )
    return report


# At most this many chunks are embedded together, sorted by length (embedding.embed_batched
# `lengths`), then stored file by file. Why not a batch at a time: a batch is padded to its
# longest text, and a sort needs texts to choose from. On PostgreSQL's manual (317 pages,
# 2026-12-02, quiet machine) the window's batches of 8 in document order were padded by 40%,
# sorted over 128 chunks by 0.5%: `enclave index` 112 -> 83 s, the window 141 -> 87 s. A
# Cancel or a kill loses at most one flush of vectors (a few seconds of work).
FLUSH_CHUNKS = 128


def _reembed(
    index: DocumentIndex,
    cid: int,
    embedder: Embedder,
    batch_size: int,
    group: int,
    report: IndexReport,
    emit: Callable[..., None],
    cancelled: Callable[[], bool],
) -> None:
    """Every chunk without the new model's vector gets one (_embed_missing), then the swap.
    Search is not disturbed: it reads the old model's column until swap_model."""
    if not _embed_missing(index, cid, embedder, batch_size, group, report, emit, cancelled,
                          next_model=True):  # fmt: skip
        return
    if not cancelled() and index.swap_model(cid):
        log.info("re-embedding done: the collection is now searched with the new model")


def _embed_missing(
    index: DocumentIndex,
    cid: int,
    embedder: Embedder,
    batch_size: int,
    group: int,
    report: IndexReport,
    emit: Callable[..., None],
    cancelled: Callable[[], bool],
    *,
    next_model: bool,
) -> bool:
    """Vectors for the chunks that have none ("embedding"; `next_model`: none from the new
    model, "re-embedding"), walking forward by chunk id a group at a time. A group (up to
    `group` chunks, FLUSH_CHUNKS; the first ones smaller, growing as in indexing) is embedded
    shortest first, as a first indexing's flush is (embed_batched `lengths`: batches of chunks
    in id order were padded like indexing's before sorting), and written in one transaction
    when all of it is done. So Cancel or a crash loses at most the group in flight, and the
    next run starts again after the last group written. False when embedding failed (the
    report says so)."""
    phase = "re-embedding" if next_model else "embedding"
    if next_model:
        done, total = index.next_vector_counts(cid)
    else:
        done, total = 0, index.count_missing_vectors(cid)
    written = 0  # in this run: sets how big the next group may be
    after = 0

    def show(n: int) -> None:
        emit(phase, n, total, n, None, n / total if total else 1.0)

    show(done)  # then after every batch of every group (embed_batched on_batch)
    while True:
        if cancelled():
            break
        rows = index.chunks_to_embed(
            cid, after, max(batch_size, min(group, written)), next_model=next_model
        )
        if not rows:
            break
        ids = [chunk_id for chunk_id, _, _ in rows]

        def progressed(n: int, first: int = done) -> None:  # n: of this group, so far
            show(first + n)

        try:
            vectors = embed_batched(
                embedder,
                [text for _, text, _ in rows],
                batch_size,
                on_batch=progressed,
                should_stop=cancelled,
                lengths=[n_tokens for _, _, n_tokens in rows],
            )
        except Exception as exc:  # the engine died, the model broke: the old vectors stay
            if cancelled():
                return True  # the engine queue gave up waiting for its turn (Cancel)
            log.warning("%s failed: %s", phase, type(exc).__name__)
            report.note = (
                translate(
                    "indexer",
                    "Updating search for the new embedding model failed; search goes on with the "
                    "previous model until the next try.",
                )
                if next_model
                else translate("indexer", "Embedding failed; some chunks are searchable by keywords only.")
            )
            return False
        if len(vectors) != len(ids):
            break  # cancelled inside the group: none of it is written, the next run redoes it
        if next_model:
            index.set_next_vectors(cid, ids, vectors)
        else:
            index.set_vectors(cid, ids, vectors)
        after = ids[-1]
        done += len(ids)
        written += len(ids)
        report.vectors_computed += len(ids)
    return True


def pending_collections(index: DocumentIndex) -> list[str]:
    """Collections whose last indexing run did not finish (cancelled, crashed, app closed):
    the app calls index_collection() on them again at start-up to pick up where they stopped."""
    return [c.name for c in index.collections() if c.state == "indexing"]
