"""Documents: extract -> chunk -> embed -> index (SQLite FTS5 + vectors) -> hybrid search ->
numbered sources in the prompt. No Qt here; every call that can take time blocks, so run it on
a worker thread (ui/tasks.py), with the progress callbacks and CancelToken it offers.

Modules (import them directly; this package imports nothing so the CLI stays fast):
    extract.py         files -> Passage(text, file, page, heading path); ExtractionError per file
    chunking.py        passages -> Chunk by sections (<= 256 model tokens, title line first)
    embedding.py       the Embedder protocol; batching and normalising helpers
    local_embedder.py  LocalEmbedder: llama-cpp-python in process (CLI, tests, benchmarks)
    index.py           DocumentIndex: the SQLite database, collections, files, chunks, vectors
    index_schema.py    MIGRATIONS: the database's schema, one script per version
    indexer.py         index_collection(): the incremental, cancellable, resumable job
    folder_scan.py     scan(): the files under a collection's folders, and why others are left out
    search.py          Searcher.search(): BM25, vectors, hybrid (reciprocal rank fusion)
    query_words.py     function_words(): the words of a question BM25 leaves out, per language
    prompting.py       pack_sources(), build_messages(), citation_lines()
    chat_context.py    prepare_document_messages(): a chat turn over collections
    summarise.py       summarise_document(): a whole file, map-reduce within the context
"""
