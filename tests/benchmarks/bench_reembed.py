"""Re-embedding for another embedding model (figures, not pass/fail), in one run:

    ENCLAVE_HOME=$(mktemp -d) python -m tests.benchmarks.bench_reembed [--files 300]

Corpus: PostgreSQL's HTML manual when installed (bench_embedding.corpus_files), else text files
under /usr/share/doc. "Model B" is a copy of the bundled MiniLM under another name (another
model id; it runs on llama.cpp, since the ONNX twin is known by name), so the figures are the
mechanism's cost, not a bigger model's: the real EmbeddingGemma is ~12x MiniLM's weights.

1. Passages/s: the first indexing with B (a fresh collection) vs re-embedding a collection
   already indexed with the bundled model (its old vectors kept and searched meanwhile).
2. Search latency (hybrid, k=8) during the re-embedding (the question embedded with the old
   model, by a second embedder) vs after the swap, median of 20 questions each.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

QUESTIONS = [
    "how do I free disk space taken by deleted rows",
    "which setting limits memory for sorting",
    "create an index without locking the table",
    "restore a backup to a point in time",
    "replicate to a standby server",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()

    from app.core import paths
    from app.core.documents.index import DocumentIndex
    from app.core.documents.indexer import IndexProgress, index_collection
    from app.core.documents.local_embedder import LocalEmbedder
    from app.core.documents.search import Searcher
    from tests.benchmarks.bench_embedding import corpus_files

    work = Path(tempfile.mkdtemp(prefix="bench-reembed-"))
    docs = work / "docs"
    docs.mkdir()
    for i, f in enumerate(corpus_files(args.files)):
        shutil.copyfile(f, docs / f"{i:04}-{f.name}")
    model_b = work / "minilm-copy-Q8_0.gguf"
    shutil.copyfile(paths.default_embedding_model(), model_b)

    with DocumentIndex(work / "index.db") as index:
        a, b = LocalEmbedder(paths.default_embedding_model()), LocalEmbedder(model_b)
        index.create_collection("Fresh", [docs])
        t0 = time.perf_counter()
        fresh = index_collection(index, "Fresh", b)
        fresh_s = time.perf_counter() - t0

        index.create_collection("Manual", [docs])
        index_collection(index, "Manual", a)
        searcher = Searcher(index, b)
        during: list[float] = []
        stop = threading.Event()

        def ask_meanwhile(p: IndexProgress) -> None:
            # Between two batches (the indexer's thread): a search as the chat would make it.
            if p.phase == "re-embedding" and not stop.is_set() and len(during) < 20:
                q = QUESTIONS[len(during) % len(QUESTIONS)]
                t = time.perf_counter()
                searcher.search(["Manual"], q, k=8)
                during.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        report = index_collection(index, "Manual", b, progress=ask_meanwhile)
        re_s = time.perf_counter() - t0
        stop.set()
        after = []
        for i in range(20):
            t = time.perf_counter()
            searcher.search(["Manual"], QUESTIONS[i % len(QUESTIONS)], k=8)
            after.append(time.perf_counter() - t)
        a.close()
        b.close()

    n = report.vectors_computed
    re_rate = n / re_s
    # The searches made during the re-embedding are inside re_s: take them out of its rate.
    re_rate_net = n / max(1e-9, re_s - sum(during))
    print(f"corpus: {args.files} files, {fresh.chunks_added} passages")
    print(f"first indexing with model B: {fresh.chunks_added / fresh_s:.0f} passages/s "
          f"(extraction included)")  # fmt: skip
    print(f"re-embedding A -> B: {n} passages in {re_s:.1f} s, {re_rate:.0f} passages/s "
          f"({re_rate_net:.0f} without the {len(during)} searches made meanwhile)")  # fmt: skip
    if during:
        med_during, med_after = statistics.median(during), statistics.median(after)
        print(f"hybrid search during the re-embedding: median {med_during * 1000:.0f} ms "
              f"(first, loading the old model: {during[0] * 1000:.0f} ms); after the swap: "
              f"{med_after * 1000:.0f} ms; during / after = {med_during / med_after:.2f}")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
