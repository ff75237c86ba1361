"""The local API kept as Settings say, for as long as the app runs: one owner of the running
ApiServer, observed by the Settings section (which only edits settings and shows this state).

It starts a server when `api_enabled` is on (also right at start-up, when the user turned it on
in an earlier session), restarts it when the port or the network choice changes, and stops it
when the switch goes off or the app closes. Starting imports the web server and may ask the OS
keyring for the key, so every start and stop runs on a thread of its own, one at a time;
events come through `call_soon` on the owner's thread (app/core/calls.py):

    state_changed(str)              what the API is doing, in plain words
    server_changed(object)          the running ApiServer, or None
    key_changed(str, bool, bool)    the key, whether it is new (show it once), whether the
                                    keyring could keep it
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from psygnal import Signal

from app.core.calls import CallSoon, call_now
from app.core.engine.service import EngineService
from app.core.i18n import translate
from app.core.settings import SettingsStore

log = logging.getLogger("enclave.api.controller")

API_SETTINGS = frozenset({"api_enabled", "api_host", "api_port"})
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class _Started:
    server: Any  # ApiServer
    key: str
    new_key: bool
    saved: bool


class ApiController:
    state_changed = Signal(str)
    server_changed = Signal(object)
    key_changed = Signal(str, bool, bool)

    def __init__(
        self, settings_store: SettingsStore, service: EngineService, call_soon: CallSoon = call_now
    ) -> None:
        self.store = settings_store
        self.service = service
        self.call_soon = call_soon
        self.server: Any = None
        self.key = ""
        self.state = translate("controller", "Off.")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enclave-api")
        self._busy = False
        self._again = False  # settings changed while a start or stop ran: apply once more
        self._closed = False
        self._last: Future[_Started | None] | None = None
        settings_store.changed.connect(self._settings_changed)

    def start_if_enabled(self) -> None:
        """At start-up: serve again if the user left the API on."""
        if self.store.current.api_enabled:
            self.apply()

    # ---- following the settings ---------------------------------------------------------
    def _settings_changed(self, names: set[str]) -> None:
        if names & API_SETTINGS:
            self.apply()

    def apply(self) -> None:
        """Make the server match the settings (in the background; one change at a time)."""
        if self._closed:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        settings = self.store.current
        enabled, host, port = settings.api_enabled, settings.api_host or LOOPBACK, int(settings.api_port)
        old, self.server = self.server, None
        self._set_state(
            translate("controller", "Starting…")
            if enabled
            else translate("controller", "Stopping…")
            if old is not None
            else translate("controller", "Off.")
        )

        def work() -> _Started | None:
            if old is not None:
                old.stop()
            if not enabled:
                return None
            from app.core.api.auth import resolve_api_key
            from app.core.api.server import ApiServer

            key = resolve_api_key(None)
            server = ApiServer(self.service, host, port, key.key)
            server.start()
            return _Started(server, key.key, key.generated, key.saved)

        self._last = self._worker.submit(work)
        self._last.add_done_callback(lambda f: self.call_soon(self._applied, f))

    def _applied(self, future: Future[_Started | None]) -> None:
        self._busy = False
        try:
            started = future.result()
        except Exception as exc:  # ApiServerError says why in plain words (port taken...)
            log.warning("the API could not start: %s", exc)
            self._set_state(str(exc) or translate("controller", "The API could not start."))
            self.server_changed.emit(None)
        else:
            if self._closed and started is not None:
                started.server.stop()
                return
            if started is None:
                self._set_state(translate("controller", "Off."))
                self.server_changed.emit(None)
            else:
                self.server = started.server
                self.key = started.key
                self.key_changed.emit(started.key, started.new_key, started.saved)
                network = self.store.current.api_host not in (LOOPBACK, "localhost", "::1", "")
                on = (
                    translate(
                        "controller",
                        "On: programs on this computer and the network can connect at {address}",
                    )
                    if network
                    else translate("controller", "On: programs on this computer can connect at {address}")
                )
                self._set_state(on.format(address=started.server.base_url))
                self.server_changed.emit(started.server)
        if self._again:
            self._again = False
            self.apply()

    # ---- the key ------------------------------------------------------------------------
    def new_key(self) -> None:
        """A new key; the running server accepts only the new one from now on."""

        def work() -> tuple[str, bool]:
            from app.core import secrets

            try:
                return secrets.regenerate_api_key(), True
            except secrets.SecretsError:
                return secrets.new_api_key(), False

        def done(future: Future[tuple[str, bool]]) -> None:
            try:
                key, saved = future.result()
            except Exception as exc:
                self._set_state(str(exc))
                return
            self.key = key
            if self.server is not None:
                self.server.set_api_key(key)
            self.key_changed.emit(key, True, saved)

        self._worker.submit(work).add_done_callback(lambda f: self.call_soon(done, f))

    # ---- closing ------------------------------------------------------------------------
    def close(self) -> None:
        """Stop at once, on this thread (the app is closing)."""
        self._closed = True
        self.store.changed.disconnect(self._settings_changed)
        self._worker.shutdown(wait=True, cancel_futures=True)  # a start under way finishes first
        last = self._last
        # cancel_futures cancels a start still queued: it never ran, so nothing to stop.
        if last is not None and last.done() and not last.cancelled() and last.exception() is None:
            started = last.result()
            if started is not None and started.server is not self.server:
                started.server.stop()  # started after the window stopped listening
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _set_state(self, text: str) -> None:
        self.state = text
        self.state_changed.emit(text)
