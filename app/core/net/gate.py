"""The one gate every outgoing connection goes through.

It knows whether the user (and the organisation) allowed Enclave to use the network:

- the user's offline mode (`Settings.offline_mode`),
- `HF_HUB_OFFLINE` set from outside (a script, a shortcut, an IT tool),
- the IT policy (`app.core.policy`): `forces_offline` closes everything, `forbids_downloads`
  closes downloads only.

`check(purpose)` raises the plain `OfflineError` (or a subclass that says who closed the gate)
before any socket is opened. Call sites ask the gate, never the settings: one concept, one place.
huggingface_hub's own HTTP client asks it too, for every request (app/core/net/transport.py),
so a call site that forgot to ask is still stopped.

Closing the gate is process-wide: `refresh()` sets `HF_HUB_OFFLINE=1` in the environment (the
engine host and any other child inherit it) and `huggingface_hub.constants.HF_HUB_OFFLINE`, so
the library refuses to connect on its own as well; opening it restores what was there before.
`changed` tells observers (the download queue pauses and resumes on it; the window redraws).

Which settings: the window attaches its SettingsStore (`attach`), so a change of offline mode
reaches the gate at once; without a store (the CLI, tests) the saved settings are read at each
check, as the CLI does for everything else. A `settings` passed to `check` wins over both.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Literal

from psygnal import Signal

from app.core.net.errors import (
    DownloadsOffError,
    EnvironmentOfflineError,
    OfflineError,
    PolicyOfflineError,
)

if TYPE_CHECKING:
    from app.core.settings import Settings, SettingsStore

log = logging.getLogger("app.core.net")

Purpose = Literal["search", "listing", "card", "download"]
PURPOSES: tuple[Purpose, ...] = ("search", "listing", "card", "download")
_TRUE = {"1", "true", "yes", "on"}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


class NetworkGate:
    """Whether Enclave may connect, per purpose; process-wide effects when that changes."""

    # emitted (from the thread that changed something) when any purpose opened or closed
    changed = Signal()

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._store: SettingsStore | None = None
        self._wrote_env = False  # HF_HUB_OFFLINE=1 in os.environ is ours, not an input
        self._env_before: str | None = None  # its value before we wrote it
        self._state: dict[Purpose, str] = {}  # purpose -> closing error's class name ("" open)

    # -- inputs --------------------------------------------------------------------------
    def attach(self, store: SettingsStore) -> None:
        """Follow this store (the window's): its offline mode changes open/close the gate."""
        with self._lock:
            if self._store is store:
                return
            self.detach()
            self._store = store
            store.changed.connect(self._on_settings_changed)
        self.refresh()

    def detach(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.changed.disconnect(self._on_settings_changed)
                self._store = None

    def _on_settings_changed(self, names: set[str]) -> None:
        if "offline_mode" in names:
            self.refresh()

    def settings(self) -> Settings:
        """The settings the gate reads: the attached store's, else the saved ones."""
        store = self._store
        if store is not None:
            return store.current
        from app.core.settings import load_settings

        return load_settings()

    def _env_offline(self) -> bool:
        """HF_HUB_OFFLINE set from outside (our own `1` does not count as an input)."""
        value = os.environ.get("HF_HUB_OFFLINE")
        if self._wrote_env and value == "1":
            return _truthy(self._env_before)
        return _truthy(value)

    # -- the question --------------------------------------------------------------------
    def closed_because(
        self, purpose: Purpose = "search", settings: Settings | None = None
    ) -> OfflineError | None:
        """Why `purpose` may not connect now (an error to raise or show), or None: open."""
        from app.core.policy import current_policy

        policy = current_policy()
        if policy.forces_offline:
            return PolicyOfflineError()
        if self._env_offline():
            return EnvironmentOfflineError()
        chosen = settings if settings is not None else self.settings()
        if chosen.offline_mode:
            return OfflineError()
        if purpose == "download" and policy.forbids_downloads:
            return DownloadsOffError()
        return None

    def check(self, purpose: Purpose = "search", settings: Settings | None = None) -> None:
        """Raise OfflineError (nothing sent) unless `purpose` may connect now."""
        reason = self.closed_because(purpose, settings)
        if reason is not None:
            raise reason

    def is_open(self, purpose: Purpose = "search", settings: Settings | None = None) -> bool:
        return self.closed_because(purpose, settings) is None

    # -- process-wide effects ------------------------------------------------------------
    def refresh(self) -> None:
        """Read the inputs again; apply HF_HUB_OFFLINE for the process; tell observers.

        Called when the attached store's offline mode changes; call it after changing the
        environment or reloading the policy."""
        with self._lock:
            state: dict[Purpose, str] = {}
            for purpose in PURPOSES:
                reason = self.closed_because(purpose)
                state[purpose] = type(reason).__name__ if reason is not None else ""
            self._apply_offline(bool(state["search"]))
            changed = state != self._state
            self._state = state
        if changed:
            log.info(
                "network gate: %s",
                ", ".join(f"{p} {'closed' if s else 'open'}" for p, s in state.items()),
            )
            self.changed.emit()

    def _apply_offline(self, offline: bool) -> None:
        """HF_HUB_OFFLINE for this process and its children, and huggingface_hub's constant."""
        if offline and not self._wrote_env:
            self._env_before = os.environ.get("HF_HUB_OFFLINE")
            os.environ["HF_HUB_OFFLINE"] = "1"
            self._wrote_env = True
        elif not offline and self._wrote_env:
            if os.environ.get("HF_HUB_OFFLINE") == "1":
                if self._env_before is None:
                    os.environ.pop("HF_HUB_OFFLINE", None)
                else:
                    os.environ["HF_HUB_OFFLINE"] = self._env_before
            self._wrote_env = False
        sync_hub_constants(offline or self._env_offline())

    def reset(self) -> None:
        """Forget the store and undo the process-wide effects (tests; a window closing)."""
        self.detach()
        with self._lock:
            self._apply_offline(False)
            self._state = {}


def sync_hub_constants(offline: bool) -> None:
    """huggingface_hub reads HF_HUB_OFFLINE once, at import: keep its constant in step.

    Only when the library is already imported (importing it here would cost the window's start
    time); app/core/net/transport.py calls this again when it prepares the library."""
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = offline  # type: ignore[attr-defined]


_gate: NetworkGate | None = None
_gate_lock = threading.Lock()


def gate() -> NetworkGate:
    """The process's gate."""
    global _gate
    if _gate is None:
        with _gate_lock:
            if _gate is None:
                _gate = NetworkGate()
    return _gate
