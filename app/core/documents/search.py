"""Search over one or more collections: BM25 (SQLite FTS5), vectors (numpy dot products on unit
vectors) and hybrid = reciprocal rank fusion of the two.

    searcher = Searcher(index, embedder)          # embedder may be None: BM25 only
    result = searcher.search(["Company docs"], "how many vacation days?", k=8)
    for hit in result.hits:
        print(hit.source_label, hit.score)        # "handbook.pdf p. 3" 0.0325
    if result.note: show(result.note)             # e.g. why it fell back to keywords

Why RRF: BM25 and cosine scores live on different scales; fusing ranks (sum of w/(RRF_K + rank))
needs no score calibration and is robust. BM25 finds exact names, codes and numbers; vectors find
paraphrases; the fusion finds both.

Vectors of a collection are loaded once into a float32 matrix and cached per process (keyed by
the database, its file and the collection). When the collection's write `generation` moves, only the
rows written since are read (each row's `vec_seq`, see index.py) and rows gone are dropped, so a
search while the indexer adds batches does not reload the whole matrix; another embedding model
or dimension reloads it. At 100,000 chunks x 384 dims that is 150 MB and a search is one
matrix-vector product (~10 ms).

Which model embeds the question: the one that made the collection's vectors. That is the
searcher's embedder, except while a collection is being re-embedded for a newly chosen model
(indexer.py): until every passage has its new vector, the collection is searched with the old
model's vectors, so the question is embedded with the old model too (`for_model` of the
embedder, from the collection's `embed_model_path`, or `for_server_model` for vectors a company
server made); after the swap, with the new one.

Blocking (the query is embedded, SQLite is read): call from a worker thread. Thread-safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.documents.embedding import Embedder, Vectors, embed_queries
from app.core.documents.extract import HEADING_SEP
from app.core.documents.index import (
    Collection,
    CollectionNotFound,
    DocumentIndex,
    StoredChunk,
    VectorChanges,
)
from app.core.documents.query_words import function_words
from app.core.fts_query import match_expression
from app.core.fts_query import words as fts_words
from app.core.i18n import translate

log = logging.getLogger("enclave.documents.search")

# How the fusion's constants were chosen: on PostgreSQL's manual (tests/benchmarks/
# bench_retrieval.py, 57 labeled questions), tuned on the odd-numbered questions only and checked
# on the even ones. The old values (RRF_K 60, BM25_FLOOR 0.3, VECTOR_GAP 0.2) let any passage
# that BM25 also found outrank the vectors' clear first: with 60 vector candidates kept and a
# flat rank curve, vector rank 20 + BM25 rank 10 beat vector rank 1 alone, so hybrid was worse
# than vectors alone (recall@5 0.84 vs 0.96). Now the vector list keeps only near-ties of its
# best (within 0.075 cosine), BM25 only hits at half its best score or more, and a steeper rank
# curve (RRF_K 10): BM25 re-orders what the vectors found close, it no longer buries it.
# Hybrid recall@1 / recall@5 / MRR@10: tuning half 0.59/0.79/0.69 -> 0.72/0.93/0.80, the other
# half 0.82/0.89/0.85 -> 0.82/0.96/0.88, all 57 0.70/0.84/0.77 -> 0.77/0.95/0.84.
# Tried since, by the same method, and not kept (hybrid recall@1/@5/MRR@10, odd | even | all;
# today 0.72/0.93/0.79 | 0.82/0.96/0.88 | 0.77/0.95/0.84):
# - a page-level dense signal. Each file's centroid (normalised mean of its passage vectors) as
#   a third RRF list over pages: at best no change (weight 0.25-0.5, K 60), otherwise worse;
#   cosine + lambda x centroid per passage: lambda 0.1 0.72/0.93/0.80 | 0.79/0.96/0.86, higher
#   worse. A log-sum-exp pooled page cosine (tau 0.005-0.05) as the third list: recall@1 and
#   even unchanged, MRR +0.002 (two odd questions from rank 5/7 to 4/5); weight 0.35 loses an
#   even question. Long pages' centroids are diluted; the pooled score is the max again.
# - pseudo-relevance feedback for BM25 (the top 1-6 vector passages' rarest terms by idf, 3-12
#   terms, the question's own repeated 1-4x for weight): BM25 alone rises 0.39 -> up to 0.70 at
#   recall@1, but it echoes the vectors and adds nothing to the fusion; one isolated grid point
#   (5 passages, 8 terms, floor 0.7) reached 0.76/0.93/0.83 | 0.82/0.96/0.88, its neighbours
#   (4 or 6 passages, 6 or 10 terms) all lose on the odd half: noise, not a signal.
# - a passage's cosine smoothed with its neighbours in the file (ordinal +-1, max or mean,
#   alpha 0.025-0.15): best 0.76/0.93/0.81 | 0.82/0.96/0.87 (one odd question up, one even
#   question down), a re-shuffle of near-ties.
# - the question's clauses embedded apart, best clause cosine blended in: worse in every blend.
# Even an oracle taking, per question, whichever of BM25, vectors, hybrid and the above got the
# first page right reaches 47/57 = 0.82 recall@1: the 0.85 target needs a better signal (a
# reranker or a stronger embedding model), not another mix of these.
RRF_K = 10  # Cormack et al. (2009) use 60; smaller makes a list's first places count more

# Before fusing, each list keeps only candidates that are competitive in it. Plain RRF rewards
# a chunk for merely appearing in both lists; in a small collection every chunk is in the vector
# list, so any chunk sharing one common word with the question ("office") would outrank the
# chunk the embedding clearly found. A BM25 hit scoring under BM25_FLOOR x the best BM25 score
# matched only common words; a vector hit more than VECTOR_GAP below the best cosine is noise.
BM25_FLOOR = 0.5
VECTOR_GAP = 0.075
# BM25's share of the fused score (vectors count 1). Measured on PostgreSQL's manual
# (tests/benchmarks/bench_retrieval.py): questions in a user's words rarely share a page's own
# terms, so an equal vote let keyword noise push the page the vectors found down.
BM25_WEIGHT = 0.5

# In a big collection, a query word found in more than this share of chunks is dropped from the
# BM25 query: its IDF is near zero, so it barely changes the ranking, but FTS5 would score every
# chunk containing it (300+ ms at 100,000 chunks). Small collections skip the check.
COMMON_TERM_SHARE = 0.1
PRUNE_FROM_CHUNKS = 20_000

@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: int
    collection: str
    file: str  # absolute path, so the GUI can open it
    page: int | None
    page_end: int | None
    heading: str | None
    text: str
    score: float  # higher is better; RRF score in hybrid mode, bm25 (negated) or cosine otherwise
    bm25_rank: int | None  # 1-based, None if BM25 did not find it
    vector_rank: int | None
    ordinal: int = 0

    @property
    def file_name(self) -> str:
        return Path(self.file).name

    @property
    def source_label(self) -> str:
        """What a citation shows: "report.pdf p. 3", "a.pdf pp. 3-4", "notes.docx - Refunds"."""
        return source_label(self.file, self.page, self.page_end, self.heading)


# Marks web pages put after a heading to link to it ("Module Contents¶"): not part of its name.
_HEADING_MARKS = " \t¶§#🔗\u00a0"


def source_label(file: str, page: int | None, page_end: int | None, heading: str | None) -> str:
    name = Path(file).name
    # A heading path ("Manual › Chapter › Section › Term") is named by its last two levels:
    # enough to find the place, short enough for a citation.
    levels = [h.strip(_HEADING_MARKS) for h in (heading or "").split(HEADING_SEP)]
    heading = HEADING_SEP.join([h for h in levels if h][-2:])
    if page is not None:
        if page_end is not None and page_end != page:
            return f"{name} pp. {page}-{page_end}"
        return f"{name} p. {page}"
    if heading:
        return f"{name} - {heading}"
    return name


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    mode: str  # what really ran: "hybrid" | "bm25" | "vector"
    note: str | None = None  # plain words for the user when something fell back


def query_terms(text: str) -> list[str]:
    words = [w.lower() for w in fts_words(text)]
    skip = function_words(words)  # "what is the", "wie ist das": query_words.py
    terms = [w for w in words if w not in skip] or words
    return list(dict.fromkeys(terms))[:32]


def fts_query(terms: Sequence[str], operator: str = "OR") -> str:
    """Search terms -> an FTS5 MATCH expression, OR-ed by default (fts_query.match_expression)."""
    return match_expression(terms, operator)


class _CachedVectors:
    """One collection's vectors in rows [:n] of buffers with room to grow. Appending writes
    past n and never touches rows a searcher may be reading, so the (ids, matrix) views handed
    out stay valid; dropping rows builds new buffers. Buffers and n are one tuple, swapped in
    one assignment, so a reader never pairs one buffer's ids with another's rows."""

    def __init__(self, changes: VectorChanges, generation: int) -> None:
        self.mark = changes.mark
        self._state = self._filled(changes.ids, changes.matrix)
        self.generation = generation

    def _filled(self, ids: np.ndarray, matrix: Vectors) -> tuple[np.ndarray, Vectors, int]:
        n = len(ids)
        room = n + max(256, n // 8)  # at 100k x 384: 19 MB more, ~400 indexing batches of room
        id_buf = np.empty(room, dtype=np.int64)
        matrix_buf = np.empty((room, self.mark.dim), dtype=np.float32)
        id_buf[:n] = ids
        matrix_buf[:n] = matrix
        return id_buf, matrix_buf, n

    def view(self) -> tuple[np.ndarray, Vectors]:
        id_buf, matrix_buf, n = self._state
        return id_buf[:n], matrix_buf[:n]

    def apply(self, changes: VectorChanges, generation: int) -> None:
        """Called under the collection's refresh lock (one writer); readers may run meanwhile."""
        id_buf, matrix_buf, n = self._state
        k = len(changes.ids)
        self.mark = changes.mark
        if changes.full:
            self._state = self._filled(changes.ids, changes.matrix)
        elif bool(changes.keep.all()) and n + k <= len(id_buf):
            id_buf[n : n + k] = changes.ids
            matrix_buf[n : n + k] = changes.matrix
            self._state = (id_buf, matrix_buf, n + k)
        else:
            self._state = self._filled(
                np.concatenate([id_buf[:n][changes.keep], changes.ids]),
                np.concatenate([matrix_buf[:n][changes.keep], changes.matrix]),
            )
        self.generation = generation  # last: a reader that sees it finds the data in place


_cache_lock = threading.Lock()
_vector_cache: dict[tuple[str, str, int], _CachedVectors] = {}
_refresh_locks: dict[tuple[str, str, int], threading.Lock] = {}


def _cached_vectors(index: DocumentIndex, collection_id: int, generation: int) -> tuple[np.ndarray, Vectors]:
    """The collection's (chunk ids, matrix). Unchanged generation: the cached views as they are.
    Otherwise only what changed since is read (see DocumentIndex.vector_changes): a search
    during indexing reads the last batches' vectors, not the whole collection again."""
    key = (index.instance, str(index.path.resolve()), collection_id)
    with _cache_lock:
        entry = _vector_cache.get(key)
        if entry is not None and entry.generation == generation:
            return entry.view()
        refresh = _refresh_locks.setdefault(key, threading.Lock())
    with refresh:  # one refresh per collection at a time; other collections are not held up
        with _cache_lock:
            entry = _vector_cache.get(key)
        if entry is not None and entry.generation == generation:
            return entry.view()  # another thread refreshed it meanwhile
        if entry is None:
            entry = _CachedVectors(
                index.vector_changes(collection_id, None, np.zeros(0, dtype=np.int64)), generation
            )
        else:
            entry.apply(index.vector_changes(collection_id, entry.mark, entry.view()[0]), generation)
        with _cache_lock:
            _vector_cache[key] = entry
        return entry.view()


def clear_vector_cache() -> None:
    with _cache_lock:
        _vector_cache.clear()


class Searcher:
    def __init__(
        self,
        index: DocumentIndex,
        embedder: Embedder | None = None,
        no_embedder_reason: str | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.no_embedder_reason = no_embedder_reason
        # Embedders of other models (by model id; None: not to be had), made on first need.
        self._others: dict[str, Embedder | None] = {}
        self._others_lock = threading.Lock()

    def embedder_for(self, collection: Collection) -> Embedder | None:
        """The embedder whose vectors the collection holds: ours, or (while it is re-embedded
        for ours) one for the model that made them, when its file is still there."""
        main = self.embedder
        wanted = collection.embed_model_id
        if main is None or not wanted:
            return None
        if wanted == main.model_id:
            return main
        with self._others_lock:
            if wanted not in self._others:
                self._others[wanted] = _other_model(main, collection)
            return self._others[wanted]

    def search(
        self,
        collections: Sequence[str],
        query: str,
        k: int = 8,
        mode: str = "hybrid",
        candidates: int = 50,
    ) -> SearchResult:
        """Best `k` chunks for `query` across the named collections. Raises CollectionNotFound."""
        if mode not in ("hybrid", "bm25", "vector"):
            raise ValueError(f"unknown search mode {mode!r}")
        found: list[Collection] = []
        for name in collections:
            c = self.index.find_collection(name)
            if c is None:
                raise CollectionNotFound(name)
            found.append(c)
        if not query.strip() or not found:
            return SearchResult([], mode)
        pool = max(candidates, k)
        notes: list[str] = []

        # Vectors only for collections embedded by the model we have.
        vector_ids: list[int] = []
        if mode != "bm25":
            if self.embedder is None:
                if self.no_embedder_reason:
                    note = translate(
                        "search", "No embedding model available ({reason}): keyword search (BM25) only."
                    ).format(reason=self.no_embedder_reason)
                else:
                    note = translate("search", "No embedding model available: keyword search (BM25) only.")
                notes.append(note)
            else:
                for c in found:
                    if self.embedder_for(c) is not None:
                        vector_ids.append(c.id)
                    elif c.n_chunks:
                        notes.append(
                            translate(
                                "search",
                                "Collection {collection} was indexed with another embedding model; "
                                "keyword search only there until it is re-indexed.",
                            ).format(collection=repr(c.name))
                        )
        effective = mode
        if mode != "bm25" and not vector_ids:
            effective = "bm25"

        bm25: list[tuple[int, float]] = []
        if effective in ("hybrid", "bm25"):
            searched = [c.id for c in found]
            match = self._bm25_match(query, searched, sum(c.n_chunks for c in found))
            bm25 = self.index.fts_search(searched, match, pool)
        vec: list[tuple[int, float]] = []
        if effective in ("hybrid", "vector") and self.embedder is not None:
            vec = self._vector_search(found, vector_ids, query, pool)

        if effective == "hybrid":
            if bm25:
                best = bm25[0][1]  # FTS5 bm25() is negative, best first
                bm25 = [(cid, sc) for cid, sc in bm25 if sc <= best * BM25_FLOOR]
            if vec:
                top_sim = vec[0][1]
                vec = [(cid, sim) for cid, sim in vec if sim >= top_sim - VECTOR_GAP]
        bm25_rank = {cid: r for r, (cid, _) in enumerate(bm25, 1)}
        vec_rank = {cid: r for r, (cid, _) in enumerate(vec, 1)}
        if effective == "bm25":
            ranked = [(cid, -s) for cid, s in bm25]  # FTS5 bm25(): lower is better
        elif effective == "vector":
            ranked = vec
        else:
            fused: dict[int, float] = {}
            for ranks, weight in ((bm25_rank, BM25_WEIGHT), (vec_rank, 1.0)):
                for cid, r in ranks.items():
                    fused[cid] = fused.get(cid, 0.0) + weight / (RRF_K + r)
            ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        top = ranked[:k]
        rows = self.index.chunks_by_id([cid for cid, _ in top])
        hits = [
            _hit(rows[cid], score, bm25_rank.get(cid), vec_rank.get(cid)) for cid, score in top if cid in rows
        ]
        return SearchResult(hits, effective, " ".join(notes) or None)

    def _bm25_match(self, query: str, collection_ids: Sequence[int], n_chunks: int) -> str:
        terms = query_terms(query)
        if n_chunks < PRUNE_FROM_CHUNKS or len(terms) < 2:
            return fts_query(terms)
        cap = int(n_chunks * COMMON_TERM_SHARE)
        counts = {t: self.index.term_match_count(t, cap + 1, collection_ids) for t in terms}
        rare = [t for t in terms if counts[t] <= cap]
        if rare:
            return fts_query(rare)
        # Every word is common: chunks with all of them are the few worth ranking.
        return fts_query(terms, "AND")

    def _vector_search(
        self, found: Sequence[Collection], ids_wanted: Sequence[int], query: str, pool: int
    ) -> list[tuple[int, float]]:
        # One question vector per model (the old model's too, for a collection still being
        # re-embedded; cosines of two models are not on one scale, but that lasts only until
        # the swap and the fusion goes by ranks).
        questions: dict[str, np.ndarray] = {}
        scored: list[tuple[int, float]] = []
        for c in found:
            embedder = self.embedder_for(c) if c.id in ids_wanted else None
            if embedder is None:
                continue
            if embedder.model_id not in questions:
                questions[embedder.model_id] = embed_queries(embedder, [query])[0]
            q = questions[embedder.model_id]
            ids, matrix = _cached_vectors(self.index, c.id, c.generation)
            if not len(ids):
                continue
            sims = matrix @ q
            n = min(pool, len(sims))
            best = np.argpartition(-sims, n - 1)[:n]
            scored.extend((int(ids[i]), float(sims[i])) for i in best)
        scored.sort(key=lambda kv: -kv[1])
        return scored[:pool]


def _other_model(main: Embedder, collection: Collection) -> Embedder | None:
    """An embedder for the model that made the collection's vectors: the company server's
    (`for_server_model`, when that server is connected), or through `main`'s `for_model` (same
    engine, another file) its recorded file, or the bundled model (a collection indexed before
    files were recorded). None when none of them is that model."""
    from app.core.documents.remote_embedder import SERVER_ID_PREFIX

    if collection.embed_model_id and collection.embed_model_id.startswith(SERVER_ID_PREFIX):
        ask_server = getattr(main, "for_server_model", None)
        if not callable(ask_server):
            return None
        server: Embedder | None = ask_server(collection.embed_model_id, collection.embed_dim)
        return server
    make = getattr(main, "for_model", None)
    if not callable(make):
        return None
    from app.core import paths
    from app.core.documents.local_embedder import model_id_for

    candidates = [Path(collection.embed_model_path)] if collection.embed_model_path else []
    candidates.append(paths.default_embedding_model())
    for path in candidates:
        try:
            if not path.is_file() or model_id_for(path) != collection.embed_model_id:
                continue
            other: Embedder | None = make(path)
            return other
        except Exception as exc:  # a broken file: this collection falls back to keywords
            log.warning("cannot load the embedding model of a collection: %s", type(exc).__name__)
            return None
    return None


def _hit(row: StoredChunk, score: float, bm25_rank: int | None, vector_rank: int | None) -> Hit:
    return Hit(
        chunk_id=row.id,
        collection=row.collection,
        file=row.file,
        page=row.page,
        page_end=row.page_end,
        heading=row.heading,
        text=row.text,
        score=score,
        bm25_rank=bm25_rank,
        vector_rank=vector_rank,
        ordinal=row.ordinal,
    )
