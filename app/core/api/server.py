"""ApiServer: uvicorn serving the API app, on a background thread.

The window starts one when the user turns the API on (and stops it when they turn it off);
`enclave serve` starts one and waits for Ctrl+C. We bind the socket ourselves before uvicorn
starts, so a port already in use is a plain error at once (not a log line on another thread),
and port 0 gives a free port whose number is known at once (`server.port`).

Loopback (127.0.0.1) unless the caller names another address: opening the model to the network
is a decision the user makes in Settings or on the command line.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
import time
from typing import Any

from app.core.api.auth import KeyCheck
from app.core.engine.service import EngineService
from app.core.errors import PlainError
from app.core.i18n import translate

log = logging.getLogger("enclave.api")

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8642
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0


class ApiServerError(PlainError):
    """The server could not start (port in use, address not on this computer...)."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if sys.platform != "win32":  # on Windows SO_REUSEADDR would let two servers share a port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ApiServerError(
                translate(
                    "server",
                    "Port {port} is already in use on {host} (another program, or another Enclave). "
                    "Choose another port.",
                ).format(port=port, host=host)
            ) from exc
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise ApiServerError(
            translate("server", "Enclave cannot listen on {address} ({reason}).").format(
                address=f"{host}:{port}", reason=exc.strerror
            )
        ) from exc
        raise ApiServerError(
            translate("server", "Enclave cannot listen on {address}: {reason}.").format(
                address=f"{host}:{port}", reason=exc.strerror or exc
            )
        ) from exc
    except socket.gaierror as exc:
        sock.close()
        raise ApiServerError(
            translate("server", "'{host}' is not an address of this computer.").format(host=host)
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ApiServer:
    def __init__(
        self, service: EngineService, host: str = LOOPBACK, port: int = DEFAULT_PORT, api_key: str = ""
    ) -> None:
        self.service = service
        self.host = host or LOOPBACK
        self.requested_port = port
        self.keys = KeyCheck(api_key)
        self._port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    # ---- where ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port it listens on (the real one when 0 was asked for); 0 before start()."""
        return self._port

    @property
    def base_url(self) -> str:
        """What other programs on this computer paste as the OpenAI base URL."""
        host = LOOPBACK if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_api_key(self, key: str) -> None:
        """Accept this key from now on (the old one stops working at once)."""
        self.keys.replace(key)

    # ---- start / stop --------------------------------------------------------------------
    def start(self) -> None:
        """Listen and serve on a background thread; returns once it accepts connections.
        Raises ApiServerError with a plain sentence when it cannot."""
        if self.running:
            return
        from app.core.policy_rules import api_refusal

        refusal = api_refusal(self.host)  # the organisation's allow_api / api_hosts
        if refusal:
            raise ApiServerError(refusal)
        import uvicorn

        from app.core.api.routes import create_app, log_requests

        sock = _bind(self.host, self.requested_port)
        self._port = int(sock.getsockname()[1])
        app = log_requests(create_app(self.service, self.keys))
        config = uvicorn.Config(
            app,
            log_config=None,  # our logging setup, not uvicorn's
            access_log=False,  # log_requests writes one line without the client's address
            lifespan="off",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._failure = None

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # reported by start() or in the log
                self._failure = exc
                log.exception("the API server stopped with an error")
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name="enclave-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ApiServerError(
                    translate("server", "The API server did not start: {reason}.").format(
                        reason=self._failure or translate("server", "timed out")
                    )
                )
            time.sleep(0.01)
        log.info("API listening on %s:%d", self.host, self._port)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop serving; open streams end (their jobs are cancelled), waiting API jobs go too."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server = None
        self._thread = None
        log.info("API stopped")

    def wait(self, stop: threading.Event) -> None:
        """Block until `stop` is set or the server dies (the CLI's main loop)."""
        while not stop.wait(0.2):
            if not self.running:
                return
