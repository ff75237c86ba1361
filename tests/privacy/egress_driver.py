"""The real app, driven through a session the way a user would, for the no-egress proof
(tests/privacy/test_no_egress.py runs it inside a loopback-only network namespace, traced).

    python tests/privacy/egress_driver.py SCENARIO MODEL WORKDIR

The window is started by the app's own entry point (`app.__main__.main(["gui", MODEL])`, as
the `enclave` command does, offscreen), with the model as its command-line argument. Scenarios:

- local:   a chat with the model, a folder of documents indexed, a chat over those documents,
           a search of past conversations, the Library and Settings pages. Nothing asked of
           the network.
- offline: offline mode on, everything of `local`, plus what would go out if asked: a model
           search, a model page, a queued download, the recommended model, and the same search
           and download through app.core directly. Hugging Face's real address is left as the
           default, so any leak would try to reach it.
- hub:     online, Hugging Face is the fake hub on 127.0.0.1 (tests/fakehub.py): a search, a
           model page and a download that completes. What the user asked for goes only there.
- control: no app; one deliberate connect to 10.0.0.1 from this process, one from a child
           process, and one name lookup: the harness must count all three.

It prints one JSON line, `RESULT {...}`, with what each step saw.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HUB_REPO = "acme/Tiny-Chat-GGUF"
HUB_FILE = "tiny-chat-Q4_K_M.gguf"
QUESTION = "Say hello in three words."
DOC_QUESTION = "How many vacation days do employees get?"


def control() -> dict[str, Any]:
    seen: dict[str, Any] = {}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(("10.0.0.1", 9))
        seen["main"] = "connected"
    except OSError as exc:
        seen["main"] = exc.strerror or str(exc)
    finally:
        sock.close()
    child = (
        "import socket; s = socket.socket(); s.settimeout(2)\n"
        "try: s.connect(('10.0.0.1', 9))\nexcept OSError as e: print(e.strerror)"
    )
    seen["child"] = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=False
    ).stdout.strip()
    try:
        socket.getaddrinfo("huggingface.co", 443)
        seen["lookup"] = "resolved"
    except OSError as exc:
        seen["lookup"] = exc.strerror or str(exc)
    return seen


def make_documents(folder: Path) -> Path:
    from tests.fixtures.documents.builders import write_docx, write_pdf

    folder.mkdir(parents=True, exist_ok=True)
    write_pdf(
        folder / "handbook.pdf",
        [
            [f"Section {i}: the office is open from nine to five on weekdays." for i in range(6)],
            ["Employees get 27 vacation days per year, plus public holidays."],
        ],
    )
    write_docx(folder / "travel.docx", [("Expenses", ["Use form EX-12 for travel costs."])])
    (folder / "parking.md").write_text("# Parking\n\nThe garage opens at 6am on weekdays.\n")
    (folder / "badges.txt").write_text("Lost badges are replaced by the front desk.\n")
    return folder


class Driver:
    def __init__(self, scenario: str, workdir: Path) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self.seen: dict[str, Any] = {"scenario": scenario}
        self.hub: Any = None
        self.started = time.monotonic()
        self.seen["seconds"] = {}

    def mark(self, step: str) -> None:
        self.seen["seconds"][step] = round(time.monotonic() - self.started, 1)

    def pump(self, until: Callable[[], bool], timeout: float, what: str) -> None:
        from PySide6.QtCore import QEventLoop
        from PySide6.QtWidgets import QApplication

        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}")
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.005)

    def idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        self.pump(lambda: time.monotonic() > end, seconds + 1, "a pause")

    def ask(self, window: Any, text: str) -> Any:
        self.pump(window.composer.send_button.isEnabled, 60, "Send to be enabled")
        finished: list[Any] = []
        window.session.answer_finished.connect(finished.append)
        window.composer.edit.setPlainText(text)
        window.composer._submit()
        self.pump(lambda: bool(finished), 120, "the answer")
        window.session.answer_finished.disconnect(finished.append)
        return finished[0]

    def run(self, window: Any) -> None:
        from app.core.engine import protocol as p
        from app.ui.pages.documents import documents_page

        self.pump(lambda: window.service.is_ready, 120, "the model to load")
        self.mark("loaded")
        if self.scenario == "hub":  # only what the user asks of the hub: the rest is `local`
            self.hub_session(window)
            self.mark("hub")
            return
        window.session.base_sampling = p.SamplingParams(max_tokens=12, seed=1, temperature=0.0)
        answer = self.ask(window, QUESTION)
        self.seen["chat"] = {"status": answer.status, "chars": len(answer.content)}
        self.mark("chat")

        # Documents: a collection from a folder, indexed with the bundled embedding model.
        window.show_page("documents")
        page = documents_page(window)
        assert page is not None
        reports: list[Any] = []
        page.indexing.finished.connect(lambda _name, report: reports.append(report))
        failures: list[str] = []
        page.indexing.failed.connect(lambda _name, message: failures.append(message))
        folder = make_documents(self.workdir / "documents")
        page.create_collection("Handbook", [folder])
        self.pump(lambda: bool(reports or failures), 180, "indexing")
        self.mark("indexed")
        self.seen["index"] = (
            {
                "added": reports[0].added,
                "chunks": reports[0].chunks_added,
                "vectors": reports[0].vectors_computed,
            }
            if reports
            else {"failed": failures}
        )
        window.show_page("chat")
        window.chat.new_chat()
        window.session.set_collections(["Handbook"])
        answer = self.ask(window, DOC_QUESTION)
        sources = answer.stats.get("sources", [])
        self.seen["documents_chat"] = {"status": answer.status, "sources": len(sources)}
        self.mark("documents chat")
        hits = window.store.search_conversations("vacation")
        self.seen["conversation_search"] = len(hits)
        window.show_page("library")
        self.idle(1.0)
        window.show_page("settings")
        self.idle(0.5)
        if self.scenario == "offline":
            self.offline_attempts(window)
        self.mark("pages")
        window.show_page("chat")
        self.idle(1.0)  # anything started in the background gets its chance to go out

    def offline_attempts(self, window: Any) -> None:
        from app.core import hub as core_hub
        from app.core.downloads import download_model

        window.show_page("discover")
        discover = window.models_area.discover
        home = discover.home
        home.search_edit.setText("llama")
        home.search()
        discover.open_model("bartowski/Llama-3.2-1B-Instruct-GGUF")
        self.idle(1.0)
        window.models_area.downloads.add(
            "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf"
        )
        window.get_recommended_model()
        self.idle(2.0)
        self.seen["downloads"] = sorted(job.state for job in window.models_area.downloads.jobs())
        refused: dict[str, str] = {}
        for name, call in (
            ("search", lambda: core_hub.search_models("llama", settings=window.settings)),
            (
                "files",
                lambda: core_hub.model_files(
                    "bartowski/Llama-3.2-1B-Instruct-GGUF", settings=window.settings
                ),
            ),
            (
                "card",
                lambda: core_hub.model_card("bartowski/Llama-3.2-1B-Instruct-GGUF", settings=window.settings),
            ),
            (
                "download",
                lambda: download_model(
                    "bartowski/Llama-3.2-1B-Instruct-GGUF",
                    "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
                    settings=window.settings,
                ),
            ),
        ):
            try:
                result = call()
                if hasattr(result, "next_page"):
                    result.next_page()
                refused[name] = "NOT REFUSED"
            except Exception as exc:
                refused[name] = f"{type(exc).__name__}: {exc}"
        self.seen["core_refused"] = refused

    def hub_session(self, window: Any) -> None:
        window.show_page("discover")
        discover = window.models_area.discover
        home = discover.home
        home.search_edit.setText("tiny")
        home.search()
        self.pump(lambda: not home.loading and home.results.topLevelItemCount() > 0, 30, "search results")
        self.seen["search_results"] = home.results.topLevelItemCount()
        discover.open_model(HUB_REPO)
        page = discover.model_page
        self.pump(lambda: bool(page.download_buttons), 30, "the model page")
        controller = window.models_area.downloads
        controller.add(HUB_REPO, HUB_FILE)
        self.pump(lambda: any(j.state in ("done", "failed") for j in controller.jobs()), 60, "the download")
        self.seen["downloads"] = [(j.state, j.error) for j in controller.jobs()]
        self.seen["hub_requests"] = len(self.hub.requests)


def main() -> int:
    scenario, model, workdir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if scenario == "control":
        print("RESULT " + json.dumps(control()), flush=True)
        return 0
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from app.core.settings import Settings, save_settings

    driver = Driver(scenario, workdir)
    save_settings(Settings(offline_mode=scenario == "offline", scan_other_apps=True))
    if scenario == "hub":
        from tests.fakehub import FakeHub

        hub = FakeHub()
        hub.add_repo(HUB_REPO, card="# Tiny Chat\n")
        hub.add_file(HUB_REPO, HUB_FILE, b"GGUF" + bytes(200_000))
        driver.hub = hub.start()
        os.environ["HF_ENDPOINT"] = hub.url
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.__main__ import main as enclave  # the app's own entry: its first lines run
    from app.ui.main_window import MainWindow

    app = QApplication([sys.argv[0]])

    def drive() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
        try:
            driver.run(window)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            driver.seen["error"] = f"{type(exc).__name__}: {exc}"
            driver.seen["traceback"] = traceback.format_exc()
        print("RESULT " + json.dumps(driver.seen), flush=True)
        window.close()
        app.quit()

    QTimer.singleShot(0, drive)
    code = enclave(["gui", str(model)])
    if driver.hub is not None:
        driver.hub.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
