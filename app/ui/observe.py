"""Widgets observing core events (psygnal signals) for as long as they live.

A core object (the settings store, a page's state) can outlive a widget that watches it: a
page torn down, a window closed while a worker's answer is still on its way. A psygnal
callback into a deleted Qt object would raise "already deleted" inside the core's emit, so
`observe` disconnects the callback when its widget is destroyed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psygnal import Signal, SignalInstance
from PySide6.QtCore import QObject


def observe(signal: SignalInstance, owner: QObject, slot: Callable[..., Any]) -> None:
    """Connect `slot` to the core `signal` until `owner` (a QObject) is destroyed."""
    signal.connect(slot)

    def drop(*_args: Any) -> None:
        signal.disconnect(slot, missing_ok=True)

    owner.destroyed.connect(drop)


def disconnect_all(owner: object) -> None:
    """Disconnect every observer of a core object's psygnal events (a window closing)."""
    for name, attribute in vars(type(owner)).items():
        if isinstance(attribute, Signal):
            getattr(owner, name).disconnect()
