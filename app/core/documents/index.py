"""The documents index: one SQLite file (paths.data_dir()/documents.db) holding collections,
their files, chunks, an FTS5 table for BM25 and the chunk vectors (float32 BLOBs).

Schema (index_schema.py's migrations, run under `PRAGMA user_version`; WAL so a search reads
while an indexer writes):

    collections(id, name UNIQUE, embed_model_id, embed_dim, state, generation, embed_model_path,
                next_model_id, next_dim, next_model_path, ...)
        next_*: a model the collection is being re-embedded for (NULL when none), see below
    collection_roots(collection_id, path)            what the user added: files and folders
    files(id, collection_id, path, size, mtime_ns, sha256, status, error, n_chunks, n_pages, ...)
        status: "indexed" | "error" (error says why) | "skipped" (error says why: format, size)
        error on an "indexed" row: what a limit left out ("only the first ... characters")
        path: TEXT, or a BLOB of the raw bytes for a name that is not UTF-8 (see db_path)
    chunks(id, collection_id, file_id, ordinal, text, page, page_end, heading, n_tokens, embedding,
           vec_seq, next_embedding)
        embedding: float32 little-endian BLOB of embed_dim values, NULL until embedded
        next_embedding: the same from the next model (next_dim values), while re-embedding
        vec_seq: vec_clock's number when the embedding was written (triggers), NULL without one
    chunks_fts(text, heading, coll)                  FTS5, external content = the view
        chunks_fts_source (chunks plus coll = "c<collection id>"), kept in step by triggers
    vec_clock(seq, instance)                         one row: the vector write clock, a random id

`collections.embed_model_id` says which model made the vectors (embed_model_path: its file, so a
search can embed a question with it). Another model does not clear them: its vectors are written
beside them (`next_embedding`, begin_model_change), search keeps using the old ones, and when
every chunk has its new vector they take the old ones' place in one transaction (swap_model;
the SQL of it in index_model_change.py).
`generation` is bumped by every write so searchers can cache the vector matrix and notice when
it is stale; `vec_seq` tells them which rows changed (vector_changes), so they refresh without
reloading it. BM25 runs in FTS5 over the searched
collections' `coll` tokens (fts_search), not over every collection's rows.

Threading: a `DocumentIndex` may be created on one thread and used on another; its methods are
serialised by a lock. Prefer one instance per worker; SQLite WAL lets them run side by side.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np

from app.core.documents import index_fts
from app.core.documents import index_model_change as model_change
from app.core.documents.chunking import Chunk
from app.core.documents.embedding import Vectors
from app.core.documents.index_fts import BM25_WEIGHTS  # noqa: F401 - re-exported
from app.core.documents.index_records import (  # noqa: F401 - re-exported: index's public names
    Collection,
    FileRecord,
    StoredChunk,
    VectorChanges,
    VectorMark,
    vector_blob,
)
from app.core.documents.index_schema import MIGRATIONS
from app.core.documents.stored_paths import (  # noqa: F401 - re-exported: index's public names
    db_path,
    display_path,
    path_from_db,
)
from app.core.i18n import translate
from app.core.sqlite_db import immediate_transaction, open_database

log = logging.getLogger("enclave.documents.index")

DB_FILENAME = "documents.db"


def default_db_path() -> Path:
    from app.core import paths

    return paths.data_dir() / DB_FILENAME


def _already_exists(name: str) -> str:
    return translate("index", "a collection named {collection} already exists").format(collection=repr(name))


class CollectionNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            translate("index", "there is no collection named {collection}").format(collection=repr(name))
        )
        self.name = name


class DocumentIndex:
    """Open (creating or migrating) the index database. Use as a context manager or close()."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per file.
        self._db = open_database(self.path)
        self._migrate()
        # Embedding blobs read by vector_changes: how a test (and a curious reader) sees that a
        # cache refresh after a small write read only the new rows.
        self.vector_rows_read = 0
        # Which database this is: a file made anew at the same path is another one to a cache.
        self.instance = str(self._db.execute("SELECT instance FROM vec_clock").fetchone()[0])

    # --- plumbing ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    translate("index", "{file} was written by a newer Enclave (schema {version})").format(
                        file=self.path.name, version=version
                    )
                )
            for number in range(version + 1, len(MIGRATIONS) + 1):
                log.info("migrating documents index to schema %d", number)
                # executescript commits first; the script and version bump run as one unit.
                try:
                    self._db.executescript(
                        f"BEGIN IMMEDIATE; {MIGRATIONS[number - 1]}; PRAGMA user_version={number}; COMMIT;"
                    )
                except sqlite3.OperationalError:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    # Two first opens at once (two workers): the other one migrated it.
                    if int(self._db.execute("PRAGMA user_version").fetchone()[0]) < number:
                        raise

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db, self._lock)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> DocumentIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bump(self, db: sqlite3.Connection, collection_id: int) -> None:
        db.execute(
            "UPDATE collections SET generation = generation + 1, updated_at = ? WHERE id = ?",
            (time.time(), collection_id),
        )

    # --- collections ------------------------------------------------------------------------

    def create_collection(self, name: str, roots: Sequence[Path | str] = ()) -> Collection:
        name = name.strip()
        if not name:
            raise ValueError(translate("index", "a collection needs a name"))
        now = time.time()
        with self.transaction() as db:
            try:
                cur = db.execute(
                    "INSERT INTO collections(name, created_at, updated_at) VALUES (?, ?, ?)",
                    (name, now, now),
                )
            except sqlite3.IntegrityError:
                raise ValueError(_already_exists(name)) from None
            cid = int(cur.lastrowid or 0)
            self._insert_roots(db, cid, roots)
        return self.collection(name)

    def _insert_roots(self, db: sqlite3.Connection, cid: int, roots: Sequence[Path | str]) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO collection_roots(collection_id, path) VALUES (?, ?)",
            [(cid, db_path(str(Path(r).expanduser().resolve()))) for r in roots],
        )

    def add_roots(self, name: str, roots: Sequence[Path | str]) -> Collection:
        cid = self.collection(name).id
        with self.transaction() as db:
            self._insert_roots(db, cid, roots)
            self._bump(db, cid)
        return self.collection(name)

    def remove_roots(self, name: str, roots: Sequence[Path | str]) -> Collection:
        """Forget roots; their files leave the index at the next indexing run."""
        cid = self.collection(name).id
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM collection_roots WHERE collection_id = ? AND path = ?",
                [(cid, db_path(str(Path(r).expanduser().resolve()))) for r in roots],
            )
            self._bump(db, cid)
        return self.collection(name)

    def rename_collection(self, name: str, new_name: str) -> Collection:
        new_name = new_name.strip()
        if not new_name:
            raise ValueError(translate("index", "a collection needs a name"))
        cid = self.collection(name).id
        with self.transaction() as db:
            try:
                db.execute("UPDATE collections SET name = ? WHERE id = ?", (new_name, cid))
            except sqlite3.IntegrityError:
                raise ValueError(_already_exists(new_name)) from None
            self._bump(db, cid)
        return self.collection(new_name)

    def delete_collection(self, name: str) -> None:
        cid = self.collection(name).id
        with self.transaction() as db:
            # Chunks first, through the FTS trigger; the cascade would do it row by row anyway.
            db.execute("DELETE FROM chunks WHERE collection_id = ?", (cid,))
            db.execute("DELETE FROM collections WHERE id = ?", (cid,))

    def _collection_from_row(self, row: sqlite3.Row) -> Collection:
        cid = int(row["id"])
        roots = [
            path_from_db(r[0])
            for r in self._db.execute(
                "SELECT path FROM collection_roots WHERE collection_id = ? ORDER BY path", (cid,)
            )
        ]
        counts = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_chunks), 0), "
            "COALESCE(SUM(status = 'error'), 0) FROM files "
            "WHERE collection_id = ? AND status != 'skipped'",
            (cid,),
        ).fetchone()
        return Collection(
            id=cid,
            name=row["name"],
            roots=roots,
            embed_model_id=row["embed_model_id"],
            embed_dim=row["embed_dim"],
            state=row["state"],
            generation=int(row["generation"]),
            n_files=int(counts[0]),
            n_chunks=int(counts[1]),
            n_errors=int(counts[2]),
            updated_at=float(row["updated_at"]),
            embed_model_path=row["embed_model_path"],
            next_model_id=row["next_model_id"],
        )

    def find_collection(self, name: str) -> Collection | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM collections WHERE name = ?", (name,)).fetchone()
            return self._collection_from_row(row) if row else None

    def collection(self, name: str) -> Collection:
        found = self.find_collection(name)
        if found is None:
            raise CollectionNotFound(name)
        return found

    def collections(self) -> list[Collection]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM collections ORDER BY name").fetchall()
            return [self._collection_from_row(r) for r in rows]

    def set_state(self, collection_id: int, state: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE collections SET state = ? WHERE id = ?", (state, collection_id))

    def set_embedding_model(self, collection_id: int, model_id: str | None, dim: int | None) -> int:
        """Record the model that makes this collection's vectors; another one drops the old
        vectors at once (index_model_change.set_model). Returns vectors dropped. (Tests and
        benchmarks; the indexer keeps old vectors searchable while it re-embeds.)"""
        with self.transaction() as db:
            dropped = model_change.set_model(db, collection_id, model_id, dim)
            if dropped is None:
                return 0
            self._bump(db, collection_id)
            return dropped

    def begin_model_change(
        self, collection_id: int, model_id: str, dim: int, model_path: str | None = None
    ) -> str:
        """The indexer is about to embed with `model_id`: "same", "new" or "pending"
        (index_model_change.begin says what each means)."""
        with self.transaction() as db:
            outcome = model_change.begin(db, collection_id, model_id, dim, model_path)
            if outcome == "new":
                self._bump(db, collection_id)
            return outcome

    def chunks_to_embed(
        self, collection_id: int, after_id: int, limit: int, *, next_model: bool = False
    ) -> list[tuple[int, str, int]]:
        """(id, text, n_tokens) of chunks without a vector (`next_model`: without the next
        model's vector), ids above `after_id`, in id order. The indexer walks forward with it
        and sorts each group by n_tokens before embedding (indexer._embed_missing)."""
        column = "next_embedding" if next_model else "embedding"
        with self._lock:
            return [
                (int(r[0]), r[1], int(r[2]))
                for r in self._db.execute(
                    f"SELECT id, text, n_tokens FROM chunks WHERE collection_id = ? AND id > ? "
                    f"AND {column} IS NULL ORDER BY id LIMIT ?",
                    (collection_id, after_id, limit),
                )
            ]

    def next_vector_counts(self, collection_id: int) -> tuple[int, int]:
        """(chunks with the next model's vector, all chunks) of the collection."""
        with self._lock:
            return model_change.next_vector_counts(self._db, collection_id)

    def set_next_vectors(self, collection_id: int, chunk_ids: Sequence[int], vectors: Vectors) -> None:
        """The next model's vectors of these chunks. Search does not read them, so nothing a
        searcher caches changes (no generation bump)."""
        with self.transaction() as db:
            model_change.set_next_vectors(db, collection_id, chunk_ids, vectors)

    def swap_model(self, collection_id: int) -> bool:
        """When every chunk has the next model's vector, they become the collection's vectors
        in one transaction (index_model_change.swap); False while some are missing."""
        with self.transaction() as db:
            swapped = model_change.swap(db, collection_id)
            if swapped:
                self._bump(db, collection_id)
            return swapped

    # --- files (for the indexer) ------------------------------------------------------------

    def files(self, collection_id: int) -> dict[str, FileRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, path, size, mtime_ns, sha256, status, error, n_chunks, n_pages "
                "FROM files WHERE collection_id = ?",
                (collection_id,),
            ).fetchall()
        records = {}
        for r in rows:
            record = dict(r)
            record["path"] = path_from_db(record["path"])
            records[record["path"]] = FileRecord(**record)
        return records

    def store_file(
        self,
        collection_id: int,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        sha256: str | None,
        status: str,
        error: str | None = None,
        chunks: Sequence[Chunk] = (),
        vectors: Vectors | None = None,
        n_pages: int | None = None,
        next_vectors: Vectors | None = None,
    ) -> int:
        """Replace everything about one file in ONE transaction: a crash leaves the file either
        fully indexed (old or new version) or not at all, which is what makes indexing resumable.
        `next_vectors`: the next model's, while the collection is re-embedded (begin_model_change)."""
        if vectors is not None and len(vectors) != len(chunks):
            raise ValueError("one vector per chunk")
        if next_vectors is not None and len(next_vectors) != len(chunks):
            raise ValueError("one vector per chunk")
        stored = db_path(path)
        with self.transaction() as db:
            row = db.execute(
                "SELECT id FROM files WHERE collection_id = ? AND path = ?", (collection_id, stored)
            ).fetchone()
            now = time.time()
            if row is None:
                cur = db.execute(
                    "INSERT INTO files(collection_id, path, size, mtime_ns, sha256, status, error,"
                    " n_chunks, n_pages, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        collection_id,
                        stored,
                        size,
                        mtime_ns,
                        sha256,
                        status,
                        error,
                        len(chunks),
                        n_pages,
                        now,
                    ),
                )
                file_id = int(cur.lastrowid or 0)
            else:
                file_id = int(row[0])
                db.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
                db.execute(
                    "UPDATE files SET size = ?, mtime_ns = ?, sha256 = ?, status = ?, error = ?,"
                    " n_chunks = ?, n_pages = ?, indexed_at = ? WHERE id = ?",
                    (size, mtime_ns, sha256, status, error, len(chunks), n_pages, now, file_id),
                )
            db.executemany(
                "INSERT INTO chunks(collection_id, file_id, ordinal, text, page, page_end, heading,"
                " n_tokens, embedding, next_embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        collection_id,
                        file_id,
                        c.ordinal,
                        c.text,
                        c.page,
                        c.page_end,
                        c.heading,
                        c.n_tokens,
                        vector_blob(vectors[i]) if vectors is not None else None,
                        vector_blob(next_vectors[i]) if next_vectors is not None else None,
                    )
                    for i, c in enumerate(chunks)
                ],
            )
            self._bump(db, collection_id)
        return file_id

    def touch_file(self, file_id: int, size: int, mtime_ns: int) -> None:
        """Same content, new mtime (a copy, a `touch`): remember the stat, keep the chunks."""
        with self.transaction() as db:
            db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, file_id))

    def remove_file(self, collection_id: int, file_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
            db.execute("DELETE FROM files WHERE id = ?", (file_id,))
            self._bump(db, collection_id)

    def count_missing_vectors(self, collection_id: int) -> int:
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM chunks WHERE collection_id = ? AND embedding IS NULL",
                    (collection_id,),
                ).fetchone()[0]
            )

    def set_vectors(self, collection_id: int, chunk_ids: Sequence[int], vectors: Vectors) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE chunks SET embedding = ? WHERE id = ?",
                [(vector_blob(v), cid) for cid, v in zip(chunk_ids, vectors, strict=True)],
            )
            self._bump(db, collection_id)

    # --- reads for search -------------------------------------------------------------------

    def fts_search(self, collection_ids: Sequence[int], match: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, bm25 score; lower is better as SQLite reports it), best first, scoring only
        these collections' rows (index_fts.py)."""
        with self._lock:
            return index_fts.fts_search(self._db, collection_ids, match, limit)

    def term_match_count(self, term: str, cap: int, collection_ids: Sequence[int]) -> int:
        """How many chunks of these collections contain `term`, counting no further than `cap`."""
        with self._lock:
            return index_fts.term_match_count(self._db, term, cap, collection_ids)

    def _in_collections(self, match: str, collection_ids: Sequence[int]) -> str:
        return index_fts.in_collections(self._db, match, collection_ids)

    def load_vectors(self, collection_id: int) -> tuple[np.ndarray, Vectors]:
        """(chunk ids, (n, dim) matrix) of every embedded chunk in the collection."""
        changes = self.vector_changes(collection_id, None, np.zeros(0, dtype=np.int64))
        return changes.ids, changes.matrix

    def vector_changes(
        self, collection_id: int, since: VectorMark | None, known_ids: np.ndarray
    ) -> VectorChanges:
        """What changed in the collection's vectors since a cache holding `known_ids` was made
        at `since` (None: nothing is held). One read transaction, so it is one moment's state.

        Only blobs of rows written after `since.seq` are read. Whether held rows are gone
        (deleted, cleared, written again) is told by a COUNT over the (collection_id, vec_seq)
        index; only when it is short are the ids of the unchanged rows read, and never blobs."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                row = self._db.execute(
                    "SELECT c.embed_model_id, c.embed_dim, v.seq, v.instance "
                    "FROM collections c, vec_clock v WHERE c.id = ?",
                    (collection_id,),
                ).fetchone()
                model_id, dim = (row[0], int(row[1] or 0)) if row else (None, 0)
                mark = VectorMark(row[3] if row else "", model_id, dim, int(row[2]) if row else 0)
                full = since is None or (since.instance, since.model_id, since.dim) != (
                    mark.instance,
                    mark.model_id,
                    mark.dim,
                )
                after = 0 if full or since is None else since.seq
                held = np.zeros(0, dtype=np.int64) if full else known_ids
                rows = self._db.execute(
                    "SELECT id, embedding FROM chunks WHERE collection_id = ? AND vec_seq > ?",
                    (collection_id, after),
                ).fetchall()
                self.vector_rows_read += len(rows)
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                keep = ~np.isin(held, ids)
                if len(held):
                    unchanged = int(
                        self._db.execute(
                            "SELECT COUNT(*) FROM chunks WHERE collection_id = ? AND vec_seq <= ?",
                            (collection_id, after),
                        ).fetchone()[0]
                    )
                    # The unchanged rows are a subset of the held ones not written again, so
                    # equal counts mean equal sets; otherwise some held rows are gone.
                    if unchanged != int(keep.sum()):
                        still = np.fromiter(
                            (
                                r[0]
                                for r in self._db.execute(
                                    "SELECT id FROM chunks WHERE collection_id = ? AND vec_seq <= ?",
                                    (collection_id, after),
                                )
                            ),
                            dtype=np.int64,
                        )
                        keep &= np.isin(held, still)
            finally:
                self._db.execute("COMMIT")
        if not rows or not dim:
            matrix = np.zeros((0, dim), dtype=np.float32)
            ids = ids[:0]
        else:
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dim)
        return VectorChanges(mark, full, keep, ids, matrix.astype(np.float32, copy=False))

    def sample_texts(self, collection_id: int, n: int) -> list[str]:
        """Up to `n` chunk texts spread over the collection (not just its first file), the same
        ones every time (a language guess must not flip between two reads)."""
        with self._lock:
            return [
                r[0]
                for r in self._db.execute(
                    "SELECT text FROM chunks WHERE collection_id = ? "
                    "ORDER BY (id * 40503) % 65521, id LIMIT ?",
                    (collection_id, n),
                )
            ]

    def chunks_by_id(self, chunk_ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, k.name, f.path, c.ordinal, c.text, c.page, c.page_end, c.heading "
                "FROM chunks c JOIN files f ON f.id = c.file_id "
                "JOIN collections k ON k.id = c.collection_id "
                f"WHERE c.id IN ({marks})",
                list(chunk_ids),
            ).fetchall()
        return {
            # The path as shown: a name that is not UTF-8 reads with U+FFFD (see display_path).
            int(r[0]): StoredChunk(int(r[0]), r[1], display_path(r[2]), int(r[3]), r[4], r[5], r[6], r[7])
            for r in rows
        }

