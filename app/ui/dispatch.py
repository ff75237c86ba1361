"""The GUI thread's `call_soon` (see app/core/calls.py): core objects hand their callbacks from
worker threads to it, and they run on the GUI thread, in order, from Qt's event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal


class _GuiCalls(QObject):
    _posted = Signal(object, object)  # fn, args

    def __init__(self) -> None:
        super().__init__()
        self._posted.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        fn(*args)


_calls: _GuiCalls | None = None


def install_gui_calls() -> None:
    """Create the poster on the GUI thread (call once from there, before work starts)."""
    global _calls
    if _calls is None:
        _calls = _GuiCalls()
        app = QCoreApplication.instance()
        if app is not None and _calls.thread() is not app.thread():
            _calls.moveToThread(app.thread())


def gui_call_soon(fn: Callable[..., Any], *args: Any) -> None:
    """Run fn(*args) on the GUI thread, soon (also when called from the GUI thread itself)."""
    if _calls is None:
        install_gui_calls()
    assert _calls is not None
    _calls._posted.emit(fn, args)
