"""A real Enclave window that loads the test model and starts a long answer; the test kills
this process with SIGKILL mid-answer. Run as: python tests/e2e/chat_victim.py MODEL QUESTION"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.core.engine import protocol as p
    from app.ui.main_window import MainWindow

    model, question = Path(sys.argv[1]), sys.argv[2]
    app = QApplication([])
    window = MainWindow()
    window.session.base_sampling = p.SamplingParams(max_tokens=4000, seed=1)

    def ask(_outcome: object) -> None:
        window.composer.edit.setPlainText(question)
        window.composer._submit()
        print(f"asked host={window.service.local.host_pid}", flush=True)

    window.service.loaded.connect(ask)
    window.show()
    window.open_model(model)
    app.exec()


if __name__ == "__main__":
    main()
