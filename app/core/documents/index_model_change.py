"""Re-embedding a collection for another embedding model, in SQL on the documents index's
connection (index.py owns it, its lock and the generation bumps; it calls these inside its
transactions). The other model's vectors are written beside the old ones (next_embedding),
search keeps the old ones, and when every chunk has its new vector they swap in one
transaction, so a search sees one model's vectors or the other's, never a mix."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from app.core.documents.embedding import Vectors
from app.core.documents.index_records import vector_blob


def set_model(
    db: sqlite3.Connection, collection_id: int, model_id: str | None, dim: int | None
) -> int | None:
    """Make `model_id` the collection's model at once: another model's vectors are dropped (they
    are not comparable), and so is a re-embedding under way. None: it already was (nothing
    changed); else the number of vectors dropped."""
    row = db.execute("SELECT embed_model_id FROM collections WHERE id = ?", (collection_id,)).fetchone()
    if row is None or row[0] == model_id:
        return None
    cur = db.execute(
        "UPDATE chunks SET embedding = NULL WHERE collection_id = ? AND embedding IS NOT NULL",
        (collection_id,),
    )
    db.execute(
        "UPDATE collections SET embed_model_id = ?, embed_dim = ? WHERE id = ?",
        (model_id, dim, collection_id),
    )
    drop_next(db, collection_id)
    return max(0, cur.rowcount)


def begin(db: sqlite3.Connection, collection_id: int, model_id: str, dim: int, model_path: str | None) -> str:
    """The indexer is about to embed with `model_id`. Returns
    "same": it made the vectors there are (a re-embedding for another model is dropped:
        the user went back);
    "new": the collection has no vectors to keep, so this model's go straight in;
    "pending": it has another model's vectors: they stay, and are still searched, while
        this model's are written beside them (set_next_vectors) until swap."""
    row = db.execute(
        "SELECT embed_model_id, next_model_id FROM collections WHERE id = ?",
        (collection_id,),
    ).fetchone()
    if row is None:
        return "same"
    current, upcoming = row[0], row[1]
    if current == model_id:
        if upcoming is not None:
            drop_next(db, collection_id)
        if model_path:
            db.execute(
                "UPDATE collections SET embed_model_path = ? WHERE id = ?",
                (model_path, collection_id),
            )
        return "same"
    has_vectors = db.execute(
        "SELECT EXISTS(SELECT 1 FROM chunks WHERE collection_id = ? AND embedding IS NOT NULL)",
        (collection_id,),
    ).fetchone()[0]
    if not has_vectors:
        # Nothing searched by meaning to keep. Vectors this model already made beside
        # (the old ones went with their files) are its vectors now.
        if upcoming == model_id:
            db.execute(
                "UPDATE chunks SET embedding = next_embedding, next_embedding = NULL "
                "WHERE collection_id = ? AND next_embedding IS NOT NULL",
                (collection_id,),
            )
        else:
            drop_next(db, collection_id)
        db.execute(
            "UPDATE collections SET embed_model_id = ?, embed_dim = ?, embed_model_path = ?,"
            " next_model_id = NULL, next_dim = NULL, next_model_path = NULL WHERE id = ?",
            (model_id, dim, model_path, collection_id),
        )
        return "new"
    if upcoming != model_id:
        drop_next(db, collection_id)
        db.execute(
            "UPDATE collections SET next_model_id = ?, next_dim = ?, next_model_path = ? "
            "WHERE id = ?",
            (model_id, dim, model_path, collection_id),
        )
    return "pending"


def drop_next(db: sqlite3.Connection, collection_id: int) -> None:
    """Forget a re-embedding under way: the next model's vectors and its name."""
    db.execute(
        "UPDATE chunks SET next_embedding = NULL WHERE collection_id = ? AND next_embedding IS NOT NULL",
        (collection_id,),
    )
    db.execute(
        "UPDATE collections SET next_model_id = NULL, next_dim = NULL, next_model_path = NULL "
        "WHERE id = ?",
        (collection_id,),
    )


def next_vector_counts(db: sqlite3.Connection, collection_id: int) -> tuple[int, int]:
    """(chunks with the next model's vector, all chunks) of the collection."""
    row = db.execute(
        "SELECT COALESCE(SUM(next_embedding IS NOT NULL), 0), COUNT(*) FROM chunks "
        "WHERE collection_id = ?",
        (collection_id,),
    ).fetchone()
    return int(row[0]), int(row[1])


def set_next_vectors(
    db: sqlite3.Connection, collection_id: int, chunk_ids: Sequence[int], vectors: Vectors
) -> None:
    db.executemany(
        "UPDATE chunks SET next_embedding = ? WHERE id = ? AND collection_id = ?",
        [(vector_blob(v), cid, collection_id) for cid, v in zip(chunk_ids, vectors, strict=True)],
    )


def swap(db: sqlite3.Connection, collection_id: int) -> bool:
    """When every chunk has the next model's vector: they become the collection's vectors and
    the next model its model. False (nothing changed) while some are missing."""
    row = db.execute(
        "SELECT next_model_id, next_dim, next_model_path FROM collections WHERE id = ?",
        (collection_id,),
    ).fetchone()
    if row is None or row[0] is None:
        return False
    missing = db.execute(
        "SELECT EXISTS(SELECT 1 FROM chunks WHERE collection_id = ? AND next_embedding IS NULL)",
        (collection_id,),
    ).fetchone()[0]
    if missing:
        return False
    # The vec_seq trigger numbers every row anew; the model id change alone already
    # makes a searcher's cache read the matrix again (vector_changes: full).
    db.execute(
        "UPDATE chunks SET embedding = next_embedding, next_embedding = NULL "
        "WHERE collection_id = ?",
        (collection_id,),
    )
    db.execute(
        "UPDATE collections SET embed_model_id = next_model_id, embed_dim = next_dim, "
        "embed_model_path = next_model_path, next_model_id = NULL, next_dim = NULL, "
        "next_model_path = NULL WHERE id = ?",
        (collection_id,),
    )
    return True
