"""The documents index's schema, as the migrations that build it (index.py runs them).

One script per schema version, applied in order under `PRAGMA user_version`; a released one is
never edited (a database made with it is migrated by the ones after it). The comment above each
says why it is the way it is. index.py's docstring shows the resulting tables.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: first schema
    """
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        embed_model_id TEXT,
        embed_dim INTEGER,
        state TEXT NOT NULL DEFAULT 'new',
        generation INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE collection_roots (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        PRIMARY KEY (collection_id, path)
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT,
        status TEXT NOT NULL,
        error TEXT,
        n_chunks INTEGER NOT NULL DEFAULT 0,
        n_pages INTEGER,
        indexed_at REAL NOT NULL,
        UNIQUE (collection_id, path)
    );
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        text TEXT NOT NULL,
        page INTEGER,
        page_end INTEGER,
        heading TEXT,
        n_tokens INTEGER NOT NULL,
        embedding BLOB
    );
    CREATE INDEX chunks_file ON chunks(file_id);
    CREATE INDEX chunks_collection ON chunks(collection_id);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, heading, content='chunks', content_rowid='id', tokenize='porter unicode61'
    );
    CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
    END;
    CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
        VALUES ('delete', old.id, old.text, old.heading);
    END;
    CREATE TRIGGER chunks_au AFTER UPDATE OF text, heading ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
        VALUES ('delete', old.id, old.text, old.heading);
        INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
    END;
    """,
    # 2: FTS5 restricts BM25 to the searched collections; vectors carry a write sequence.
    # chunks_fts gains a `coll` column holding "c<collection id>", so a search MATCHes
    # `{text heading}:(query) AND coll:("c3" OR "c7")` and FTS5 intersects the posting lists
    # before scoring: a small collection no longer pays for matching every collection's rows.
    # FTS5 tables cannot ALTER, so it is dropped and rebuilt. It stays external-content (no
    # second copy of the text), over a VIEW that adds the column: FTS5 reads its columns by name
    # from the content table, and `rebuild`, `integrity-check` and column values keep working,
    # which a contentless table would lose.
    # vec_seq: NULL while a chunk has no embedding, else a number from vec_clock taken when the
    # embedding was written (by triggers, so every write path keeps it). A searcher's cached
    # matrix remembers the highest vec_seq it holds and later reads only rows above it; a row id
    # SQLite reuses after a delete gets a new number, so it is never mistaken for the cached one.
    # vec_clock.instance tells this database from one made anew at the same path.
    """
    DROP TRIGGER chunks_ai;
    DROP TRIGGER chunks_ad;
    DROP TRIGGER chunks_au;
    DROP TABLE chunks_fts;
    CREATE VIEW chunks_fts_source AS
        SELECT id, text, heading, 'c' || collection_id AS coll FROM chunks;
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, heading, coll, content='chunks_fts_source', content_rowid='id',
        tokenize='porter unicode61'
    );
    INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');
    CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text, heading, coll)
        VALUES (new.id, new.text, new.heading, 'c' || new.collection_id);
    END;
    CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text, heading, coll)
        VALUES ('delete', old.id, old.text, old.heading, 'c' || old.collection_id);
    END;
    CREATE TRIGGER chunks_au AFTER UPDATE OF text, heading, collection_id ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text, heading, coll)
        VALUES ('delete', old.id, old.text, old.heading, 'c' || old.collection_id);
        INSERT INTO chunks_fts(rowid, text, heading, coll)
        VALUES (new.id, new.text, new.heading, 'c' || new.collection_id);
    END;

    CREATE TABLE vec_clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        instance TEXT NOT NULL
    );
    INSERT INTO vec_clock(id, seq, instance) VALUES (1, 1, lower(hex(randomblob(16))));
    ALTER TABLE chunks ADD COLUMN vec_seq INTEGER;
    UPDATE chunks SET vec_seq = 1 WHERE embedding IS NOT NULL;
    DROP INDEX chunks_collection;  -- chunks_vec starts with collection_id and serves its queries
    CREATE INDEX chunks_vec ON chunks(collection_id, vec_seq);
    CREATE TRIGGER chunks_vec_ai AFTER INSERT ON chunks WHEN new.embedding IS NOT NULL BEGIN
        UPDATE vec_clock SET seq = seq + 1;
        UPDATE chunks SET vec_seq = (SELECT seq FROM vec_clock) WHERE id = new.id;
    END;
    CREATE TRIGGER chunks_vec_au AFTER UPDATE OF embedding ON chunks BEGIN
        UPDATE vec_clock SET seq = seq + 1 WHERE new.embedding IS NOT NULL;
        UPDATE chunks SET vec_seq = CASE WHEN new.embedding IS NULL THEN NULL
            ELSE (SELECT seq FROM vec_clock) END
        WHERE id = new.id;
    END;
    """,
    # 3: re-embedding for another model beside the current vectors. `next_embedding` holds the
    # next model's vector of a chunk while the collection is being re-embedded; search never
    # reads it (its vectors stay `embedding`, of `embed_model_id`). When every chunk has one,
    # swap_model moves them into `embedding` in one transaction: the vec_seq trigger gives each
    # row a new number, and the model id in the searchers' cache marks changes too, so a cached
    # matrix is read anew. Cancelled or quit half-way, the next run continues from the chunks
    # without one. `embed_model_path` remembers the file that made the vectors (for the question).
    """
    ALTER TABLE collections ADD COLUMN embed_model_path TEXT;
    ALTER TABLE collections ADD COLUMN next_model_id TEXT;
    ALTER TABLE collections ADD COLUMN next_dim INTEGER;
    ALTER TABLE collections ADD COLUMN next_model_path TEXT;
    ALTER TABLE chunks ADD COLUMN next_embedding BLOB;
    """,
]
