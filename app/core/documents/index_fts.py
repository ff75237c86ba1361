"""BM25 reads of the document index: FTS5 queries kept to the collections searched.

Functions on the index's connection; DocumentIndex (index.py) holds the lock and calls them.
One job: turn a MATCH expression (built by app.core.fts_query, the one FTS query builder) into
scored chunk ids, so FTS5 scores only the rows of the collections asked for (schema 2: a
`coll` column holds each chunk's "c<id>" token).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from app.core.fts_query import match_expression

log = logging.getLogger("enclave.documents.index")

# bm25() weights of chunks_fts's columns: text, heading (a heading word counts half: it is
# repeated on every chunk of its section), coll (0: the collection filter does not score).
BM25_WEIGHTS = "1.0, 0.5, 0.0"


def fts_search(
    db: sqlite3.Connection, collection_ids: Sequence[int], match: str, limit: int
) -> list[tuple[int, float]]:
    """(chunk id, bm25 score; lower is better as SQLite reports it), best first. FTS5 itself
    keeps to the collections (see `in_collections`), so only their rows are scored."""
    if not collection_ids or not match:
        return []
    try:
        rows = db.execute(
            f"SELECT rowid, bm25(chunks_fts, {BM25_WEIGHTS}) AS score FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?",
            (in_collections(db, match, collection_ids), limit),
        ).fetchall()
    except sqlite3.OperationalError as exc:  # a query FTS5 cannot parse
        log.info("fts query rejected: %s", exc)
        return []
    return [(int(r[0]), float(r[1])) for r in rows]


def term_match_count(db: sqlite3.Connection, term: str, cap: int, collection_ids: Sequence[int]) -> int:
    """How many chunks of these collections contain `term`, counting no further than `cap`:
    cheap even for a word that is everywhere, which is the case it is asked for."""
    if not collection_ids:
        return 0
    try:
        return int(
            db.execute(
                "SELECT COUNT(*) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
                (in_collections(db, match_expression([term]), collection_ids), cap),
            ).fetchone()[0]
        )
    except sqlite3.OperationalError:
        return 0


def in_collections(db: sqlite3.Connection, match: str, collection_ids: Sequence[int]) -> str:
    """`match` as an FTS5 expression over text and heading only (a question's word "c3"
    must not hit the collection column), ANDed with the collections' tokens. Searching
    every collection there is leaves the filter out: it would only add work."""
    query = f"{{text heading}}: ({match})"
    wanted = set(collection_ids)
    every = {int(r[0]) for r in db.execute("SELECT id FROM collections")}
    if every <= wanted:
        return query
    tokens = " OR ".join(f'"c{int(cid)}"' for cid in sorted(wanted))
    return f"{query} AND coll: ({tokens})"
