"""BM25 is computed by FTS5 over the searched collections only (schema 2's `coll` column), and
a database made by the first schema migrates to it and still finds what it held."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from app.core.documents.chunking import Chunk
from app.core.documents.index import BM25_WEIGHTS, DocumentIndex
from app.core.documents.index_schema import MIGRATIONS
from app.core.documents.search import Searcher, fts_query


def _chunk(text: str, ordinal: int = 0, heading: str | None = None) -> Chunk:
    return Chunk(text, "/docs/x.txt", None, None, heading, ordinal, len(text.split()))


def _store(index: DocumentIndex, cid: int, name: str, texts: list[str]) -> None:
    index.store_file(
        cid,
        f"/docs/{name}",
        size=1,
        mtime_ns=1,
        sha256=name,
        status="indexed",
        chunks=[_chunk(t, i) for i, t in enumerate(texts)],
    )


def _fts_matches(index: DocumentIndex, match: str) -> int:
    """Rows FTS5 itself yields for a MATCH (before any join or filter in SQL)."""
    return int(
        index._db.execute("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,)).fetchone()[0]
    )


def test_bm25_scores_only_the_searched_collections(tmp_path: Path) -> None:
    with DocumentIndex(tmp_path / "d.db") as index:
        small = index.create_collection("small").id
        big = index.create_collection("big").id
        _store(index, small, "s.txt", ["the invoice of the harbour crane", "lunch menu"])
        _store(index, big, "b.txt", [f"invoice number {i} for shipment" for i in range(200)])

        match = index._in_collections(fts_query(["invoice"]), [small])
        assert _fts_matches(index, match) == 1  # FTS5 found one row, not 201
        hits = index.fts_search([small], fts_query(["invoice"]), 50)
        assert len(hits) == 1
        assert index.chunks_by_id([hits[0][0]])[hits[0][0]].collection == "small"
        assert len(index.fts_search([big], fts_query(["invoice"]), 500)) == 200
        assert len(index.fts_search([small, big], fts_query(["invoice"]), 500)) == 201

        # The pruning count of common words counts in the searched collections only.
        assert index.term_match_count("invoice", 1000, [small]) == 1
        assert index.term_match_count("invoice", 1000, [small, big]) == 201
        assert index.term_match_count("invoice", 10, [big]) == 10  # capped
        assert index.term_match_count("invoice", 10, []) == 0

        # A question's word that looks like a collection token does not match the token.
        assert index.fts_search([small], fts_query([f"c{small}"]), 50) == []
        # FTS syntax in a match that FTS5 rejects is an empty answer, not an error.
        assert index.fts_search([small], '"unclosed', 50) == []
        result = Searcher(index).search(["small"], "invoice crane", mode="bm25")
        assert [h.text for h in result.hits] == ["the invoice of the harbour crane"]


def test_bm25_scores_as_with_text_and_heading_alone(tmp_path: Path) -> None:
    """Weights as before the collection column: text 1.0, heading 0.5, the column 0. The one
    token of `coll` per row lengthens each row by one token, which moves scores a little (BM25
    normalises by length) and does not reorder these hits."""
    texts = [
        "alpha beta gamma delta alpha",
        "alpha only once here",
        "beta gamma without the first",
        "gamma alpha beta beta beta beta",
    ]
    with DocumentIndex(tmp_path / "d.db") as index:
        cid = index.create_collection("one").id
        index.create_collection("other")
        index.store_file(
            cid,
            "/docs/a.txt",
            size=1,
            mtime_ns=1,
            sha256="a",
            status="indexed",
            chunks=[_chunk(t, i, heading="alpha heading" if i == 2 else None) for i, t in enumerate(texts)],
        )
        ours = index.fts_search([cid], fts_query(["alpha", "beta"]), 10)
    # The same rows in a plain two-column FTS5 table, scored as the first schema did.
    ref = sqlite3.connect(":memory:")
    ref.execute("CREATE VIRTUAL TABLE f USING fts5(text, heading, tokenize='porter unicode61')")
    for i, t in enumerate(texts):
        heading = "alpha heading" if i == 2 else None
        ref.execute("INSERT INTO f(rowid, text, heading) VALUES (?, ?, ?)", (i, t, heading))
    expected = ref.execute(
        "SELECT rowid, bm25(f, 1.0, 0.5) s FROM f WHERE f MATCH ? ORDER BY s", (fts_query(["alpha", "beta"]),)
    ).fetchall()
    first_id = min(i for i, _ in ours)
    assert [i - first_id for i, _ in ours] == [r[0] for r in expected]
    assert np.allclose([s for _, s in ours], [r[1] for r in expected], rtol=0.1)
    assert BM25_WEIGHTS.split(", ") == ["1.0", "0.5", "0.0"]


def test_a_first_schema_database_migrates_and_searches(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    old.executescript(
        """
        INSERT INTO collections(id, name, embed_model_id, embed_dim, state, created_at, updated_at)
            VALUES (1, 'Manuals', 'm', 2, 'ready', 0, 0), (2, 'Notes', 'm', 2, 'ready', 0, 0);
        INSERT INTO files(id, collection_id, path, size, mtime_ns, status, n_chunks, indexed_at)
            VALUES (1, 1, '/m/a.txt', 1, 1, 'indexed', 2, 0), (2, 2, '/n/b.txt', 1, 1, 'indexed', 1, 0);
        """
    )
    vec = np.array([1.0, 0.0], dtype="<f4").tobytes()
    old.executemany(
        "INSERT INTO chunks(id, collection_id, file_id, ordinal, text, heading, n_tokens, embedding)"
        " VALUES (?, ?, ?, ?, ?, ?, 5, ?)",
        [
            (1, 1, 1, 0, "vacuum reclaims storage of dead tuples", "Routine Maintenance", vec),
            (2, 1, 1, 1, "autovacuum runs vacuum automatically", None, None),
            (3, 2, 2, 0, "remember to vacuum the living room", None, vec),
        ],
    )
    old.commit()
    old.close()

    with DocumentIndex(path) as index:
        version = index._db.execute("PRAGMA user_version").fetchone()[0]
        assert version == len(MIGRATIONS)
        index._db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
        manuals, notes = index.collection("Manuals").id, index.collection("Notes").id
        assert sorted(i for i, _ in index.fts_search([manuals], fts_query(["vacuum"]), 10)) == [1, 2]
        assert [i for i, _ in index.fts_search([notes], fts_query(["vacuum"]), 10)] == [3]
        assert [i for i, _ in index.fts_search([notes], fts_query(["maintenance"]), 10)] == []
        assert [i for i, _ in index.fts_search([manuals], fts_query(["maintenance"]), 10)] == [1]
        # The embedded chunks have a vector sequence, the other one none.
        seqs = dict(index._db.execute("SELECT id, vec_seq FROM chunks").fetchall())
        assert seqs[1] is not None and seqs[3] is not None and seqs[2] is None
        # Writes after the migration keep the FTS table in step (the new triggers).
        index.remove_file(manuals, 1)
        assert index.fts_search([manuals], fts_query(["vacuum"]), 10) == []
        _store(index, manuals, "c.txt", ["vacuum full rewrites the table"])
        assert len(index.fts_search([manuals], fts_query(["vacuum"]), 10)) == 1
        hits = Searcher(index).search(["Manuals", "Notes"], "vacuum", mode="bm25").hits
        assert sorted(h.collection for h in hits) == ["Manuals", "Notes"]
        index._db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
    # Opening again migrates nothing more.
    DocumentIndex(path).close()
