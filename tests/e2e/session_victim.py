"""The app's chat without its window, for the kill matrix (tests/e2e/test_kill_matrix.py): the
core ChatSession (app/core/chat/session.py, the object the window draws) with the real engine
(EngineService -> engine host child process -> llama-cpp-python, SmolLM2), saving into the
app's database, asking one question after another until it is killed.

    python tests/e2e/session_victim.py MODEL

Prints `ready host=PID` once the model is loaded, `started ID` when an answer begins and
`finished ID SHA256` when one is committed complete, so the test knows exactly which messages
the app had finished when SIGKILL came.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

QUESTIONS = [
    "Write a short poem about the sea.",
    "Name three colours.",
    "Tell me a story about a ship.",
    "What is a cat?",
]


def main() -> None:
    from app.core.calls import CallQueue
    from app.core.chat.session import ChatSession
    from app.core.chat.store import STATUS_COMPLETE, ChatStore
    from app.core.engine import protocol as p
    from app.core.engine.service import EngineService

    model = Path(sys.argv[1])
    calls = CallQueue()
    service = EngineService(call_soon=calls)
    loaded: list[object] = []
    service.loaded.connect(loaded.append)
    # One thread: what is tested is the database under SIGKILL, not speed, and a machine
    # shared with other jobs makes llama.cpp's spinning worker threads crawl.
    service.load(model, 1024, n_threads=1)
    calls.run_until(lambda: bool(loaded), timeout=120)
    store = ChatStore()  # the app's database (ENCLAVE_HOME); opening it recovers a killed answer
    session = ChatSession(store, service, call_soon=calls)
    session.base_sampling = p.SamplingParams(max_tokens=32, seed=1)
    session.answer_started.connect(lambda m: print(f"started {m.id}", flush=True))

    def finished(message: object) -> None:
        if message.status == STATUS_COMPLETE:  # type: ignore[attr-defined]
            digest = hashlib.sha256(message.content.encode()).hexdigest()  # type: ignore[attr-defined]
            print(f"finished {message.id} {digest}", flush=True)  # type: ignore[attr-defined]

    session.answer_finished.connect(finished)
    print(f"ready host={service.local.host_pid}", flush=True)
    asked = 0
    while True:
        if not session.busy:
            if asked % 3 == 0:
                session.new_chat()
            session.send(QUESTIONS[asked % len(QUESTIONS)])
            asked += 1
        calls.run_pending(timeout=0.05)


if __name__ == "__main__":
    main()
