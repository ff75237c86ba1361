"""Documents figures (not pass/fail): indexing throughput, search latency at 100,000 chunks,
retrieval quality (recall@5 of hybrid vs BM25 alone vs vectors alone).

    ENCLAVE_HOME=$(mktemp -d) python -m tests.benchmarks.bench_documents [--chunks 100000]

Baselines measured in the same run: indexing without embeddings (extraction + chunking +
SQLite only) next to the full pipeline; BM25-only and vector-only latency next to hybrid.
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
            "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
            for _ in range(size * 2)
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
                [" ".join(_sentence(rng) for _ in range(6)) for _ in range(3)]
                for _ in range(pages_per_file)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--only", choices=["quality", "indexing", "search"], default=None)
    args = parser.parse_args()
    os.environ.setdefault("ENCLAVE_HOME", tempfile.mkdtemp(prefix="enclave-bench-"))
    print(f"machine: {os.cpu_count()} CPU cores")
    embedder = LocalEmbedder(paths.default_embedding_model())
    if args.only in (None, "quality"):
        bench_quality(embedder)
    if args.only in (None, "indexing"):
        bench_indexing(embedder, args.files, args.pages)
    if args.only in (None, "search"):
        bench_search(embedder, args.chunks)


if __name__ == "__main__":
    main()
