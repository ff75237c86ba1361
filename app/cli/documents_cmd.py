"""Documents from the terminal:

    enclave index COLLECTION [PATH...]            create/update a collection (Ctrl+C stops; run
                                                  again to continue where it stopped)
    enclave search-docs COLLECTION QUERY [--json] ranked chunks with their source and score
    enclave ask COLLECTION QUESTION --model GGUF  an answer from a chat model, citing sources

Without --model, `ask` prints the sources it found and the prompt it would send.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from app.cli.output import fail, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    index = subparsers.add_parser(
        "index", help="index files and folders into a document collection"
    )
    index.add_argument("collection", help="collection name (created if new)")
    index.add_argument(
        "paths", nargs="*", type=Path, help="files or folders to add (none: re-index)"
    )
    _embedding_args(index)
    index.add_argument("--json", action="store_true", help="print the report as JSON")
    index.add_argument(
        "--no-ocr",
        action="store_true",
        help="skip scanned pages and pictures (default: read them with OCR, or as Settings says)",
    )
    index.set_defaults(handler=run_index)

    search = subparsers.add_parser("search-docs", help="search a document collection")
    search.add_argument("collection", help="collection name (several: comma-separated)")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="how many results (default 5)")
    search.add_argument("--mode", choices=["hybrid", "bm25", "vector"], default="hybrid")
    _embedding_args(search)
    search.add_argument("--json", action="store_true", help="print results as JSON")
    search.set_defaults(handler=run_search)

    ask = subparsers.add_parser("ask", help="answer a question from a document collection")
    ask.add_argument("collection", help="collection name (several: comma-separated)")
    ask.add_argument("question")
    ask.add_argument("--model", type=Path, help="chat model (.gguf); without it, show the prompt")
    ask.add_argument("--ctx", type=int, default=4096, help="context size in tokens")
    ask.add_argument("--max-tokens", type=int, default=512)
    ask.add_argument("-k", type=int, default=12, help="chunks to consider (default 12)")
    _embedding_args(ask)
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(handler=run_ask)


def _embedding_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embedding-model",
        type=Path,
        default=None,
        help="embedding .gguf (default: the one chosen in the app's Documents page, else bundled)",
    )
    parser.add_argument(
        "--no-embed", action="store_true", help="keyword search only (no embedding model)"
    )


def _embedder(args: argparse.Namespace) -> tuple[Any, str | None]:
    """(embedder or None, why none). The model: --embedding-model, else the one the settings
    name (the Documents page's choice, so `enclave index` and the window make the same vectors
    and a collection is not re-embedded back and forth), else the bundled one. A collection
    whose vectors came from another model is re-embedded beside them (indexer.py), and search
    embeds its questions with the model its vectors came from meanwhile (search.py)."""
    if args.no_embed:
        return None, "--no-embed was given"
    from app.core.documents.local_embedder import LocalEmbedder, default_embedder

    path: Path | None = args.embedding_model
    if path is None:
        from app.core.settings import load_settings

        chosen = load_settings().embedding_model
        if not chosen:
            return default_embedder()
        path = Path(chosen).expanduser()
    if not path.is_file():
        return None, f"there is no file at {path}"
    try:
        return LocalEmbedder(path), None
    except Exception as exc:
        return None, f"{path.name} could not be loaded ({type(exc).__name__})"


def _collections(arg: str) -> list[str]:
    return [name.strip() for name in arg.split(",") if name.strip()]


def _progress_printer() -> Any:
    from app.core.documents.indexer import IndexProgress

    tty = sys.stderr.isatty()
    last = [""]

    def show(p: IndexProgress) -> None:
        if p.phase == "scanning":
            line = "Scanning..."
        elif p.phase == "embedding":
            line = f"Embedding: {p.files_done}/{p.files_total} chunks"
        elif p.phase == "re-embedding":
            line = f"Re-embedding for the new model: {p.files_done} of {p.files_total} passages"
        elif p.phase == "done":
            line = ""
        else:
            line = f"Indexing: {p.files_done}/{p.files_total} files, {p.chunks_done} chunks"
            if p.detail:
                line += f" ({p.detail})"
        if p.eta_s is not None and p.phase != "done":
            line += f", about {p.eta_s:.0f} s left"
        if line == last[0]:
            return
        last[0] = line
        if tty:
            sys.stderr.write("\r\033[K" + line)
            if p.phase == "done":
                sys.stderr.write("\r\033[K")
            sys.stderr.flush()
        elif line:
            print(line, file=sys.stderr)

    return show


def run_index(args: argparse.Namespace) -> int:
    from app.core.cancel import CancelToken
    from app.core.documents.extract import Limits
    from app.core.documents.index import DocumentIndex
    from app.core.documents.indexer import IndexReport, index_collection
    from app.core.documents.priority import lower_for_indexing
    from app.core.settings import load_settings

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        return fail(f"not found: {', '.join(missing)}")
    with DocumentIndex() as index:
        if index.find_collection(args.collection) is None:
            if not args.paths:
                return fail(
                    f"there is no collection named {args.collection!r}; "
                    "give the files or folders to put in it"
                )
            index.create_collection(args.collection, args.paths)
        elif args.paths:
            index.add_roots(args.collection, args.paths)
        # The job runs on a worker thread, as in the app, so Ctrl+C here becomes a clean Cancel.
        cancel = CancelToken()
        outcome: dict[str, Any] = {}

        def work() -> None:
            # Background work, so a chat answer in the window keeps its speed (priority.py);
            # before the model loads, so the embedding runtime's threads inherit it.
            lower_for_indexing()
            try:
                embedder, why = _embedder(args)
                outcome["report"] = index_collection(
                    index,
                    args.collection,
                    embedder,
                    progress=_progress_printer(),
                    cancel=cancel,
                    no_embedder_reason=why,
                    limits=Limits(ocr=not args.no_ocr and load_settings().read_scanned_pages),
                )
            except BaseException as exc:  # handed to the main thread
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="index", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            print("\nStopping after the current file...", file=sys.stderr)
            cancel.cancel()
            worker.join()
        if "error" in outcome:
            from app.core.errors import PlainError

            if isinstance(outcome["error"], PlainError):  # a full disk: a sentence, no traceback
                return fail(str(outcome["error"]))
            raise outcome["error"]
        report: IndexReport = outcome["report"]
    if args.json:
        print_json(report)
        return 130 if report.cancelled else 0
    print(
        f"{report.collection}: {report.added} added, {report.changed} changed, "
        f"{report.removed} removed, {report.unchanged} unchanged; "
        f"{report.chunks_added} chunks from {report.pages} PDF pages in {report.seconds:.1f} s."
    )
    for issue in report.failed:
        print(f"  could not index {issue.path}: {issue.reason}")
    for issue in report.skipped:
        print(f"  skipped {issue.path}: {issue.reason}")
    for issue in report.partial:
        print(f"  indexed only in part {issue.path}: {issue.reason}")
    if report.note:
        print(report.note)
    if report.cancelled:
        print("Stopped. Run the same command again to continue where it stopped.")
        return 130
    return 0


def run_search(args: argparse.Namespace) -> int:
    from app.core.documents.index import CollectionNotFound, DocumentIndex
    from app.core.documents.search import Searcher

    names = _collections(args.collection)
    with DocumentIndex() as index:
        for name in names:
            if index.find_collection(name) is None:
                return fail(f"there is no collection named {name!r}")
        embedder, why = (None, "not needed") if args.mode == "bm25" else _embedder(args)
        try:
            result = Searcher(index, embedder, why).search(names, args.query, args.k, args.mode)
        except CollectionNotFound as exc:
            return fail(str(exc))
    if args.json:
        print_json(
            {
                "query": args.query,
                "mode": result.mode,
                "note": result.note,
                "results": [
                    {
                        "rank": i,
                        "source": h.source_label,
                        "score": round(h.score, 6),
                        "file": h.file,
                        "page": h.page,
                        "heading": h.heading,
                        "collection": h.collection,
                        "bm25_rank": h.bm25_rank,
                        "vector_rank": h.vector_rank,
                        "text": h.text,
                    }
                    for i, h in enumerate(result.hits, 1)
                ],
            }
        )
        return 0
    if result.note:
        print(f"Note: {result.note}", file=sys.stderr)
    if not result.hits:
        print("No matching passages.")
    for i, hit in enumerate(result.hits, 1):
        snippet = " ".join(hit.text.split())
        snippet = snippet[:300] + ("..." if len(snippet) > 300 else "")
        print(f"{i}. {hit.source_label}  (score {hit.score:.4f}, {result.mode})")
        print(f"   {snippet}")
    return 0


def run_ask(args: argparse.Namespace) -> int:
    from app.core.documents.index import DocumentIndex
    from app.core.documents.prompting import (
        build_messages,
        citation_lines,
        pack_sources,
        sources_budget,
    )
    from app.core.documents.search import Searcher

    names = _collections(args.collection)
    if args.model is not None and not args.model.is_file():
        return fail(f"there is no file at {args.model}")
    with DocumentIndex() as index:
        for name in names:
            if index.find_collection(name) is None:
                return fail(f"there is no collection named {name!r}")
        embedder, why = _embedder(args)
        result = Searcher(index, embedder, why).search(names, args.question, args.k)
    if result.note:
        print(f"Note: {result.note}", file=sys.stderr)

    def pack(n_ctx: int) -> tuple[Any, list[dict[str, str]]]:
        budget = sources_budget(
            n_ctx, other_tokens=len(args.question) // 3 + 16, answer_tokens=args.max_tokens
        )
        packed = pack_sources(result.hits, budget)
        return packed, build_messages(args.question, packed)

    if args.model is None:
        packed, messages = pack(args.ctx)
        if args.json:
            print_json({"sources": packed.sources, "messages": messages, "answer": None})
            return 0
        print("Sources:")
        for line in citation_lines(packed):
            print(f"  {line}")
        print("\nPrompt (pass --model PATH.gguf to get an answer):\n")
        for message in messages:
            print(f"--- {message['role']} ---\n{message['content']}\n")
        return 0
    return _answer(args, pack)


def _answer(args: argparse.Namespace, pack: Any) -> int:
    from app.core.documents.prompting import citation_lines
    from app.core.engine import protocol as p
    from app.core.engine.client import EngineClient, EngineError
    from app.core.engine.loader import load_model

    client = EngineClient()
    try:
        outcome = load_model(client, args.model, wanted_ctx=args.ctx)
        if outcome.notice and not args.json:
            print(outcome.notice, file=sys.stderr)
        packed, messages = pack(outcome.plan.n_ctx)

        def echo(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        sampling = p.SamplingParams(temperature=0.2, max_tokens=args.max_tokens)
        text, _stats = client.chat(messages, sampling, on_tokens=None if args.json else echo)
    except EngineError as exc:
        tail = getattr(exc, "log_tail", "")
        return fail(exc.message + (f"\nLast engine log lines:\n{tail}" if tail else ""))
    except Exception as exc:  # GGUFError and friends: a bad model file
        return fail(f"{args.model.name}: {exc}")
    finally:
        client.shutdown()
    citations = citation_lines(packed, text)
    if args.json:
        print_json({"answer": text, "citations": citations, "sources": packed.sources})
        return 0
    print("\n\nSources:")
    for line in citations:
        print(f"  {line}")
    return 0
