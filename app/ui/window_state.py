"""The window's size and splitter positions between runs: an INI file in our config folder (not
the registry or a plist, so it goes with the rest of Enclave's settings)."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter


def _file() -> QSettings:
    from app.core import paths

    return QSettings(str(paths.config_dir() / "window.ini"), QSettings.Format.IniFormat)


def restore_window_state(window: QMainWindow, splitter: QSplitter) -> None:
    state = _file()
    geometry = state.value("window/geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    sizes = state.value("window/splitter")
    if sizes is not None:
        splitter.restoreState(sizes)


def save_window_state(window: QMainWindow, splitter: QSplitter) -> None:
    state = _file()
    state.setValue("window/geometry", window.saveGeometry())
    state.setValue("window/splitter", splitter.saveState())
