"""Start the GUI: QApplication, style, the main window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from app.core import paths

log = logging.getLogger("enclave.ui")


def _setup_logging() -> None:
    path = paths.log_dir() / "enclave.log"
    # Owner-only, like the database and the settings: a log names files and models.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(path, 0o600)  # also a log an older version created with the default mode
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def run_gui(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="enclave gui")
    parser.add_argument("model", nargs="?", help="a .gguf file to open at once")
    parser.add_argument(
        "--exit-after-show",
        action="store_true",
        help="print the seconds from process start to the first window on screen, then quit"
        " (start-time benchmark and smoke test)",
    )
    parser.add_argument(
        "--check-languages", action="store_true", help="check the shipped translations load, then quit"
    )
    args = parser.parse_args(argv)
    if args.check_languages:  # for `enclave self-test`: no window, no display needed
        from app.ui.language import check_shipped

        problem = check_shipped()
        print(problem or "translations: Deutsch and Français load (Enclave's words and Qt's buttons)")
        return 1 if problem else 0
    _setup_logging()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Enclave")
    app.setOrganizationName("Enclave")
    icon = paths.resources_dir() / "icons" / "enclave.png"
    if icon.exists():
        from PySide6.QtGui import QIcon

        QApplication.setWindowIcon(QIcon(str(icon)))
    from app.core.settings import load_settings
    from app.ui.language import apply_language, resolve
    from app.ui.theme import apply_theme

    settings = load_settings()
    # The language before any widget exists: texts are translated as widgets are made.
    apply_language(app, resolve(settings.language))
    # Fusion on every OS, light or dark as Settings.theme says ("system" follows the OS).
    apply_theme(settings.theme, app)  # type: ignore[arg-type]
    from app.ui.main_window import MainWindow

    window = MainWindow()
    if args.exit_after_show:

        def report() -> None:
            started = float(os.environ.get("ENCLAVE_T0", "0") or 0) or _process_start()
            print(f"window shown after {time.time() - started:.3f} s", flush=True)
            QTimer.singleShot(0, window.close)

        window.shown.connect(report)
    window.show()
    if args.model:
        from pathlib import Path

        window.open_model(Path(args.model))
    return int(app.exec())


def _process_start() -> float:
    try:
        import psutil

        return float(psutil.Process().create_time())
    except Exception:
        return time.time()
