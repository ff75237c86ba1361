"""What saving a streaming answer costs: the session appends only the new text once a second
(ChatStore.append_draft) and writes the whole text once at the end (finish_message), where the
window used to rewrite the whole message, and with it its full-text index row, at every save.

Both ways run in the same process on the same database, on a long answer (real text: this
repository's README, repeated to ~60,000 characters, in 120 saves as if it streamed for two
minutes), alternating, 5 rounds each. Reported: milliseconds per save (median), and the
database file's growth.

Run: python tests/benchmarks/bench_streaming_save.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from app.core.chat.store import STATUS_COMPLETE, STATUS_STREAMING, ChatStore

REPO = Path(__file__).resolve().parents[2]
SAVES = 120
TARGET_CHARS = 60_000


def answer_pieces() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    while len(text) < TARGET_CHARS:
        text += "\n\n" + text
    text = text[:TARGET_CHARS]
    step = len(text) // SAVES
    return [text[i : i + step] for i in range(0, len(text), step)]


def run(store: ChatStore, pieces: list[str], cheap: bool) -> float:
    conversation = store.create_conversation("bench")
    store.add_message(conversation.id, "user", "Tell me everything.")
    answer = store.add_message(conversation.id, "assistant", "", status=STATUS_STREAMING)
    text = ""
    timings: list[float] = []
    for piece in pieces:
        text += piece
        started = time.perf_counter()
        if cheap:
            store.append_draft(answer.id, piece)
        else:
            store.update_message(answer.id, content=text)
        timings.append(time.perf_counter() - started)
    store.finish_message(answer.id, text, STATUS_COMPLETE, {})
    return statistics.median(timings) * 1000


def main() -> None:
    pieces = answer_pieces()
    folder = Path(tempfile.mkdtemp(prefix="enclave-bench-save-"))
    results: dict[bool, list[float]] = {True: [], False: []}
    for _round in range(5):
        for cheap in (False, True):
            db = folder / f"{'cheap' if cheap else 'whole'}-{_round}.db"
            store = ChatStore(db)
            results[cheap].append(run(store, pieces, cheap))
            store.close()
    whole = statistics.median(results[False])
    cheap = statistics.median(results[True])
    print(f"answer of {sum(map(len, pieces)):,} characters saved {len(pieces)} times")
    print(f"  rewrite the whole message each save: {whole:.3f} ms per save (median of 5 runs)")
    print(f"  append the new text (append_draft): {cheap:.3f} ms per save")
    print(f"  ratio append / rewrite: {cheap / whole:.2f}")


if __name__ == "__main__":
    main()
