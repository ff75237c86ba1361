"""Indexing is background work: it runs at the lowest CPU priority, so a chat answer streaming
beside it (the engine host runs at nice 5) and the window keep their speed on a 2-core laptop.

Seen before (issue 11): with `enclave index` at normal priority in another process, a chat
answer fell from 78 to 3.4 tokens/s (llama.cpp's threads wait for each other at every step when
one of them loses its core). At the lowest priority the indexer only gets what the answer
leaves (tests/benchmarks/bench_chat_during_indexing.py measures it; not yet on a quiet machine).

Linux: SCHED_IDLE (runs only on a core nothing else wants; a waking chat thread preempts it at
once), which is per thread and inherited by threads started after it. Elsewhere: the process's
lowest nice / IDLE priority class. Failures are logged, never raised: indexing works without.

Only for a process that does nothing else: one thread of the window's process at the lowest
priority could hold Python's GIL while it waits for a core, and the GUI thread would wait too.
In the window, indexing's embedding runs in the engine host, behind the chat on one queue.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("enclave.documents.priority")

# "normal" keeps the priority: benchmarks that time indexing itself on a machine shared with
# other work (where the lowest priority would measure the others' load, not the indexer).
PRIORITY_ENV = "ENCLAVE_INDEX_PRIORITY"


def _wanted() -> bool:
    return os.environ.get(PRIORITY_ENV, "").lower() != "normal"


def _idle_thread() -> bool:
    """SCHED_IDLE for the calling thread (and the threads it starts later). Linux only."""
    if not _wanted():
        return True
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None or not sys.platform.startswith("linux"):
        return False
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
        return True
    except OSError as exc:
        log.info("could not lower the indexing thread's priority: %s", exc)
        return False


def lower_for_indexing() -> None:
    """For the thread of a process that only indexes (`enclave index`): the calling thread on
    Linux (so `enclave index` run inside a test leaves the test's own threads alone), the
    process elsewhere. Call it before loading the embedding model, so that the threads the
    runtime starts inherit it."""
    if _idle_thread():
        return
    try:
        import psutil

        process = psutil.Process()
        if sys.platform == "win32":
            process.nice(psutil.IDLE_PRIORITY_CLASS)
        else:
            process.nice(19)
    except Exception as exc:  # a sandbox may forbid it
        log.info("could not lower the indexing process's priority: %s", exc)
