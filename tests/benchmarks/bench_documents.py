"""Documents figures (not pass/fail): indexing throughput, search latency at 100,000 chunks,
retrieval quality (recall@5 of hybrid vs BM25 alone vs vectors alone), BM25 in a small
collection beside a big one, and a vector search right after the indexer wrote a batch.

    ENCLAVE_HOME=$(mktemp -d) python -m tests.benchmarks.bench_documents [--chunks 100000]
        [--only quality|indexing|search|scope|cache|real] [--real-pages 100]

Baselines measured in the same run: indexing without embeddings (extraction + chunking +
SQLite only) next to the full pipeline; BM25-only and vector-only latency next to hybrid;
scope: the query shape before schema 2 (FTS5 over every collection, then a JOIN filter) next
to the one FTS5 restricts to the collections, on the same database; cache: a full reload of
the vectors (what every write cost before) next to the incremental refresh. real: latency at
100,000 real vectors (the manual's passages and their vectors, stored again to that size).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from app.core import paths
from app.core.documents.chunking import Chunk
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import index_collection
from app.core.documents.local_embedder import LocalEmbedder
from app.core.documents.search import Searcher, clear_vector_cache
from tests.fixtures.documents.builders import write_pdf
from tests.fixtures.documents.labeled import build_corpus, recall_at_k

WORDS = [
    "policy", "budget", "customer", "invoice", "contract", "revenue", "travel", "expense",
    "security", "laptop", "office", "meeting", "project", "schedule", "report", "quarter",
    "growth", "employee", "salary", "pension", "training", "course", "vacation", "leave",
    "parking", "badge", "canteen", "lunch", "safety", "alarm", "building", "network", "server",
    "backup", "release", "review", "approval", "manager", "team", "risk", "audit", "compliance",
    "privacy", "retention", "supplier", "order", "delivery", "warehouse", "shipment", "price",
    "discount", "tax", "payroll", "insurance", "claim", "incident",
]  # fmt: skip


def _vocabulary(size: int = 6000) -> tuple[list[str], list[float]]:
    """Zipf-distributed vocabulary like real prose: a few words everywhere, most rare. The
    domain words above sit at ranks 5, 25, 45, ... so queries mix common and rare words."""
    rng = random.Random(0)
    syllables = ["ka", "lo", "mi", "ter", "san", "vo", "ri", "del", "po", "na", "zu", "ben"]
    vocab = list(
        dict.fromkeys(
            "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size * 2)
        )
    )[:size]
    for i, word in enumerate(WORDS):
        vocab[5 + 20 * i] = word
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    cumulative = list(itertools.accumulate(weights))
    return vocab, cumulative


VOCAB, CUM_WEIGHTS = _vocabulary()


def _sentence(rng: random.Random) -> str:
    words = rng.choices(VOCAB, cum_weights=CUM_WEIGHTS, k=rng.randint(8, 18))
    return " ".join(words).capitalize() + "."


def bench_indexing(embedder: LocalEmbedder, n_files: int, pages_per_file: int) -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for f in range(n_files):
            pages = [
                [" ".join(_sentence(rng) for _ in range(6)) for _ in range(3)] for _ in range(pages_per_file)
            ]
            write_pdf(folder / f"doc{f:03d}.pdf", pages)
        total_pages = n_files * pages_per_file
        for label, emb in (("text only (baseline)", None), ("with embeddings", embedder)):
            with DocumentIndex(folder / f"{label[:4]}.db") as index:
                index.create_collection("bench", [folder])
                start = time.perf_counter()
                report = index_collection(index, "bench", emb)
                seconds = time.perf_counter() - start
            print(
                f"indexing {label}: {total_pages} PDF pages, {report.chunks_added} chunks in "
                f"{seconds:.1f} s -> {total_pages / seconds:.1f} pages/s, "
                f"{report.chunks_added / seconds:.1f} chunks/s"
            )


def bench_search(embedder: LocalEmbedder, n_chunks: int, n_queries: int = 60) -> None:
    rng = random.Random(2)
    db = paths.data_dir() / "bench-search.db"
    if db.exists():
        db.unlink()
    with DocumentIndex(db) as index:
        cid = index.create_collection("big").id
        index.set_embedding_model(cid, embedder.model_id, embedder.dim)
        start = time.perf_counter()
        per_file = 100
        np_rng = np.random.default_rng(3)
        for f in range(n_chunks // per_file):
            chunks = [
                Chunk(
                    " ".join(_sentence(rng) for _ in range(14)),
                    f"/bench/f{f}.pdf",
                    1 + i // 4,
                    1 + i // 4,
                    None,
                    i,
                    250,
                )
                for i in range(per_file)
            ]
            # Random unit vectors stand in for real ones: embedding 100k chunks on 2 cores
            # would take hours, and the search cost does not depend on the values.
            vectors = np_rng.standard_normal((per_file, embedder.dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index.store_file(
                cid,
                f"/bench/f{f}.pdf",
                size=1,
                mtime_ns=1,
                sha256="x",
                status="indexed",
                chunks=chunks,
                vectors=vectors,
            )
        print(
            f"search: built {n_chunks} chunks in {time.perf_counter() - start:.0f} s "
            f"({db.stat().st_size / 1e6:.0f} MB)"
        )
        searcher = Searcher(index, embedder)
        clear_vector_cache()
        start = time.perf_counter()
        searcher.search(["big"], "warm up the vector cache", 8, "vector")
        print(f"search: first vector search (loads the matrix) {time.perf_counter() - start:.2f} s")
        queries = [" ".join(rng.sample(WORDS, 4)) + " procedure?" for _ in range(n_queries)]
        for mode in ("bm25", "vector", "hybrid"):
            times = []
            for q in queries:
                t = time.perf_counter()
                searcher.search(["big"], q, 8, mode)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print(
                f"search {mode:6s} at {n_chunks} chunks: p50 {statistics.median(times):.1f} ms,"
                f" p95 {p95:.1f} ms" + (" (includes embedding the query)" if mode != "bm25" else "")
            )
        t = time.perf_counter()
        for q in queries:
            embedder.embed([q])
        per_query = (time.perf_counter() - t) * 1000 / len(queries)
        print(f"  of which embedding one query: {per_query:.1f} ms")


PG_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")
QUESTIONS = Path(__file__).with_name("data") / "pg15_questions.json"


def _old_fts_search(index: DocumentIndex, collection_ids: list[int], match: str, limit: int) -> list[int]:
    """The query shape before schema 2: FTS5 matches and scores every collection's rows, a JOIN
    keeps the searched ones afterwards (the `coll` column is never matched, so its weight does
    not enter)."""
    marks = ",".join("?" * len(collection_ids))
    rows = index._db.execute(
        "SELECT c.id, bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts "
        "JOIN chunks c ON c.id = chunks_fts.rowid "
        f"WHERE chunks_fts MATCH ? AND c.collection_id IN ({marks}) ORDER BY score LIMIT ?",
        (match, *collection_ids, limit),
    ).fetchall()
    return [int(r[0]) for r in rows]


def _percentiles(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    return f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms"


def bench_scope(n_big: int, repeats: int = 3) -> None:
    """BM25 in a small collection next to a big one: the old query shape and the new one on the
    same database, with the PostgreSQL manual's real text and its 57 questions."""
    import json
    import shutil

    if not PG_DOCS.is_dir():
        print(f"scope: skipped, {PG_DOCS} is missing (apt-get install postgresql-doc-15)")
        return
    pages = sorted(PG_DOCS.glob("*.html"))
    questions = [q["q"] for q in json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]]
    with tempfile.TemporaryDirectory() as tmp:
        small_docs, big_docs = Path(tmp) / "small", Path(tmp) / "big"
        small_docs.mkdir()
        big_docs.mkdir()
        for i, page in enumerate(pages):
            shutil.copy2(page, (small_docs if i % 60 == 0 else big_docs) / page.name)
        with DocumentIndex(Path(tmp) / "scope.db") as index:
            start = time.perf_counter()
            small = index.create_collection("small", [small_docs]).id
            big = index.create_collection("big", [big_docs]).id
            index_collection(index, "small", None)
            index_collection(index, "big", None)
            base = index.collection("big").n_chunks
            # The big collection grows to n_big chunks with copies of the manual's own chunks.
            with index.transaction() as db:
                while True:
                    count = db.execute("SELECT COUNT(*) FROM chunks WHERE collection_id = ?", (big,))
                    have = int(count.fetchone()[0])
                    if have >= n_big:
                        break
                    db.execute(
                        "INSERT INTO chunks(collection_id, file_id, ordinal, text, page, page_end, heading,"
                        " n_tokens) SELECT collection_id, file_id, ordinal, text, page, page_end, heading,"
                        " n_tokens FROM chunks WHERE collection_id = ? ORDER BY id LIMIT ?",
                        (big, min(base, n_big - have)),
                    )
            n_small = index.collection("small").n_chunks
            print(
                f"scope: {len(pages)} manual pages -> small {n_small} chunks, big {base} chunks copied "
                f"to {have}, built in {time.perf_counter() - start:.0f} s"
            )
            searcher = Searcher(index)
            for label, ids, n in (("small", [small], n_small), ("big", [big], have)):
                matches = [searcher._bm25_match(q, ids, n) for q in questions]
                for q_match in matches[:3]:  # warm the page cache for both shapes
                    _old_fts_search(index, ids, q_match, 50)
                    index.fts_search(ids, q_match, 50)
                times: dict[str, list[float]] = {"old": [], "new": []}
                same = 0
                for _ in range(repeats):
                    for q_match in matches:
                        t = time.perf_counter()
                        old = _old_fts_search(index, ids, q_match, 50)
                        times["old"].append((time.perf_counter() - t) * 1000)
                        t = time.perf_counter()
                        new = [cid for cid, _ in index.fts_search(ids, q_match, 50)]
                        times["new"].append((time.perf_counter() - t) * 1000)
                        same += old[:10] == new[:10]
                ratio = statistics.median(times["old"]) / max(statistics.median(times["new"]), 1e-6)
                print(
                    f"scope: BM25 in the {label} collection ({n} of {n_small + have} chunks): "
                    f"old shape {_percentiles(times['old'])}; new {_percentiles(times['new'])} "
                    f"({ratio:.1f}x at p50; same top 10 in {same}/{len(matches) * repeats})"
                )


def bench_cache(n_chunks: int, dim: int = 384, rounds: int = 8) -> None:
    """A vector search right after the indexer wrote a batch of 32 vectors: the cache reloading
    the whole collection (as before) next to its incremental refresh. Synthetic vectors and a
    synthetic query (random unit vectors): the cost is the reading, not the values."""

    class RandomQuery:
        model_id = "bench-random"

        def __init__(self) -> None:
            self.dim = dim
            self.rng = np.random.default_rng(5)

        def embed(self, texts: list[str]) -> np.ndarray:
            return self.rng.standard_normal((len(texts), dim)).astype(np.float32)

    rng = np.random.default_rng(4)

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def chunks(f: int, n: int) -> list[Chunk]:
        return [Chunk(f"file {f} passage {i}", f"/bench/{f}", None, None, None, i, 4) for i in range(n)]

    embedder = RandomQuery()
    with tempfile.TemporaryDirectory() as tmp, DocumentIndex(Path(tmp) / "cache.db") as index:
        start = time.perf_counter()
        cid = index.create_collection("big").id
        index.set_embedding_model(cid, embedder.model_id, dim)
        per_file = 1000
        for f in range(n_chunks // per_file):
            index.store_file(
                cid, f"/bench/{f}", size=1, mtime_ns=1, sha256="x", status="indexed",
                chunks=chunks(f, per_file), vectors=unit(per_file),
            )  # fmt: skip
        print(f"cache: built {n_chunks} chunks x {dim} dims in {time.perf_counter() - start:.0f} s")
        searcher = Searcher(index, embedder)
        clear_vector_cache()
        searcher.search(["big"], "q", 8, "vector")
        times: dict[str, list[float]] = {"full reload": [], "incremental": []}
        read: dict[str, int] = {"full reload": 0, "incremental": 0}
        for r in range(rounds):
            for label in times:
                f = 10_000 + 2 * r + (label == "incremental")
                index.store_file(
                    cid, f"/bench/{f}", size=1, mtime_ns=1, sha256="x", status="indexed",
                    chunks=chunks(f, 32),
                )  # fmt: skip
                ids = [i for i, _, _ in index.chunks_to_embed(cid, 0, 32)]
                index.set_vectors(cid, ids, unit(32))  # the indexer's batch
                if label == "full reload":
                    clear_vector_cache()  # what every write cost before: the whole matrix again
                before = index.vector_rows_read
                t = time.perf_counter()
                searcher.search(["big"], "q", 8, "vector")
                times[label].append((time.perf_counter() - t) * 1000)
                read[label] += index.vector_rows_read - before
        t = time.perf_counter()
        for _ in range(rounds):
            searcher.search(["big"], "q", 8, "vector")
        cached = (time.perf_counter() - t) * 1000 / rounds
        full, inc = statistics.median(times["full reload"]), statistics.median(times["incremental"])
        for label in times:
            print(
                f"cache: vector search right after a 32-vector write at {n_chunks} vectors, {label}: "
                f"{_percentiles(times[label])}, {read[label] // rounds} vectors read per search"
            )
        print(f"cache: incremental is {full / inc:.0f}x faster; a search with nothing new: {cached:.1f} ms")


def bench_quality(embedder: LocalEmbedder) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        labeled = build_corpus(Path(tmp) / "docs")
        with DocumentIndex(Path(tmp) / "q.db") as index:
            index.create_collection("q", [Path(tmp) / "docs"])
            index_collection(index, "q", embedder)
            searcher = Searcher(index, embedder)
            for mode in ("bm25", "vector", "hybrid"):
                ranked = [
                    [h.file_name for h in searcher.search(["q"], item.question, 5, mode).hits]
                    for item in labeled
                ]
                by_kind = {
                    kind: recall_at_k(
                        [r for r, i in zip(ranked, labeled, strict=True) if i.kind == kind],
                        [i for i in labeled if i.kind == kind],
                    )
                    for kind in ("paraphrase", "code")
                }
                print(
                    f"recall@5 {mode:6s}: {recall_at_k(ranked, labeled):.2f} over "
                    f"{len(labeled)} questions (paraphrase {by_kind['paraphrase']:.2f}, "
                    f"code {by_kind['code']:.2f})"
                )


def bench_real_search(n_chunks: int, n_pages: int, repeats: int = 3) -> None:
    """Search latency at n_chunks REAL vectors: n_pages of the PostgreSQL manual indexed with
    the bundled model (real passages, their real vectors), then the collection's chunks stored
    again, vectors included, until it has n_chunks (embedding 100,000 distinct passages would
    take hours on 2 cores). The 57 labeled questions of bench_retrieval are the queries. An
    exact search reads every vector whatever its value; the copies give BM25 the manual's real
    term statistics at that size."""
    import json
    import shutil

    if not PG_DOCS.is_dir():
        print(f"real: skipped, {PG_DOCS} is missing (apt-get install postgresql-doc-15)")
        return
    pages = sorted(PG_DOCS.glob("*.html"))
    step = max(1, len(pages) // n_pages)
    chosen = pages[::step][:n_pages]
    questions = [q["q"] for q in json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]]
    embedder = LocalEmbedder(paths.default_embedding_model())
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for page in chosen:
            shutil.copy2(page, docs / page.name)
        with DocumentIndex(Path(tmp) / "real.db") as index:
            start = time.perf_counter()
            cid = index.create_collection("manual", [docs]).id
            index_collection(index, "manual", embedder)
            base = index.collection("manual").n_chunks
            embedded_s = time.perf_counter() - start
            with index.transaction() as db:
                have = base
                while have < n_chunks:
                    db.execute(
                        "INSERT INTO chunks(collection_id, file_id, ordinal, text, page, page_end, heading,"
                        " n_tokens, embedding) SELECT collection_id, file_id, ordinal, text, page,"
                        " page_end, heading, n_tokens, embedding FROM chunks WHERE collection_id = ?"
                        " ORDER BY id LIMIT ?",
                        (cid, min(base, n_chunks - have)),
                    )
                    have += min(base, n_chunks - have)
                index._bump(db, cid)
            print(
                f"real: {len(chosen)} manual pages -> {base} passages embedded in {embedded_s:.0f} s, "
                f"stored again to {have} chunks with their vectors"
            )
            searcher = Searcher(index, embedder)
            clear_vector_cache()
            t = time.perf_counter()
            searcher.search(["manual"], "warm up the vector cache", 8, "vector")
            print(f"real: first vector search (loads the matrix) {time.perf_counter() - t:.2f} s")
            for mode in ("bm25", "vector", "hybrid"):
                times = []
                for _ in range(repeats):
                    for q in questions:
                        t = time.perf_counter()
                        searcher.search(["manual"], q, 8, mode)
                        times.append((time.perf_counter() - t) * 1000)
                print(
                    f"real: search {mode:6s} at {have} real vectors, {len(times)} queries: "
                    f"{_percentiles(times)}" + (" (question embedding included)" if mode != "bm25" else "")
                )
    embedder.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--real-pages", type=int, default=100, help="manual pages embedded for --only real")
    parser.add_argument(
        "--only", choices=["quality", "indexing", "search", "scope", "cache", "real"], default=None
    )
    args = parser.parse_args()
    os.environ.setdefault("ENCLAVE_HOME", tempfile.mkdtemp(prefix="enclave-bench-"))
    print(f"machine: {os.cpu_count()} CPU cores")
    if args.only in (None, "scope"):
        bench_scope(args.chunks)
    if args.only in (None, "cache"):
        bench_cache(args.chunks)
    if args.only in (None, "real"):
        bench_real_search(args.chunks, args.real_pages)
    if args.only in ("scope", "cache", "real"):
        return
    embedder = LocalEmbedder(paths.default_embedding_model())
    if args.only in (None, "quality"):
        bench_quality(embedder)
    if args.only in (None, "indexing"):
        bench_indexing(embedder, args.files, args.pages)
    if args.only in (None, "search"):
        bench_search(embedder, args.chunks)


if __name__ == "__main__":
    main()
