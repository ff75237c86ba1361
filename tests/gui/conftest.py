from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.chat.store import ChatStore
from app.ui.main_window import MainWindow


@pytest.fixture
def make_window(qtbot, tmp_path: Path) -> Iterator:  # type: ignore[no-untyped-def]
    """Build main windows that share one database, as restarts of the app would."""
    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(store=ChatStore(tmp_path / "enclave.db"))
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        if window.isVisible():
            window.close()
