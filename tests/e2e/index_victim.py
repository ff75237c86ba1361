"""Indexing as the window runs it, for the kill matrix (tests/e2e/test_kill_matrix.py): the
documents indexer (app/core/documents/indexer.py) with the bundled embedding model, 8 passages
an embedding request (the window's size), into the app's documents index, until killed.

    python tests/e2e/index_victim.py COLLECTION FOLDER

Prints one line per progress report (the test kills it after a random number of them) and, if
it gets to the end, `REPORT {json}` with what the run did.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> None:
    from app.core import paths
    from app.core.documents.index import DocumentIndex
    from app.core.documents.indexer import IndexProgress, index_collection
    from app.core.documents.local_embedder import LocalEmbedder

    name, folder = sys.argv[1], Path(sys.argv[2])
    # One thread: the test machine is shared; what is tested is what is on disk after a kill.
    embedder = LocalEmbedder(paths.default_embedding_model(), n_threads=1)
    with DocumentIndex() as index:
        if index.find_collection(name) is None:
            index.create_collection(name, [folder])

        def progress(p: IndexProgress) -> None:
            print(f"{p.phase} {p.files_done}/{p.files_total} {p.chunks_done}", flush=True)

        report = index_collection(index, name, embedder, progress=progress, batch_size=8)
    print("REPORT " + json.dumps(dataclasses.asdict(report)), flush=True)


if __name__ == "__main__":
    main()
