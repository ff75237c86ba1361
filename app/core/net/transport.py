"""huggingface_hub's HTTP client, made by us: through the gate, the system proxy, the OS trust store.

huggingface_hub (2.x) sends every request through one shared `httpx2.Client` that a factory
makes (`set_client_factory`). `prepare_hub()` installs ours, once, before the first request:

- Every request asks the network gate first (`_ask_gate`): a call site that forgot to ask is
  still stopped, before the socket opens.
- Proxies: `trust_env=True`, so httpx2 takes them from `urllib.request.getproxies()`: the
  `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` variables, and where none is set the
  system settings (the Windows registry's Internet Options, macOS System Settings -> Network).
  A proxy auto-configuration (PAC) script is not run; IT sets a fixed proxy or the variables.
- Certificates: the operating system's own store (`ssl_context`): on Windows and macOS a
  `truststore.SSLContext`, which asks the OS to verify (Windows' certificate store through
  CryptoAPI, macOS' keychains through the Security framework); on Linux OpenSSL's default
  locations, which are the distribution's store (/etc/ssl/certs, filled by
  update-ca-certificates or update-ca-trust), plus `SSL_CERT_FILE` / `SSL_CERT_DIR` when set. A
  company certificate that IT installed on the computer (the usual set-up behind a
  TLS-inspecting proxy) is therefore trusted, which certifi's fixed bundle would not do.
- Telemetry off, and no implicit token: huggingface_hub never reads `HF_TOKEN` or its token
  file on its own; app/core/net/tokens.py decides what is sent.

The rest of the client is as huggingface_hub makes it (its request hook, redirects, no global
timeout: timeouts are per call).
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
from typing import TYPE_CHECKING

from app.core.net.gate import gate, sync_hub_constants

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger("app.core.net")

_installed = False
_install_lock = threading.Lock()


def ssl_context() -> ssl.SSLContext:
    """A client TLS context that trusts what the operating system trusts (see module doc).

    Made once per client; the client is made once per process (reset_client makes another)."""
    if sys.platform in ("win32", "darwin"):
        import truststore

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Linux: truststore would load these same default paths, but it loads them again on every
    # handshake, which OpenSSL before 3.4 keeps accumulating (truststore issue 212); loading
    # them once is the same trust without the growth. OpenSSL itself honours SSL_CERT_FILE and
    # SSL_CERT_DIR here (the tests point SSL_CERT_FILE at their own CA this way).
    return ssl.create_default_context()


def _ask_gate(request: httpx2.Request) -> None:
    """httpx2 request hook: the gate closed for everything stops the request unsent."""
    gate().check("search")


def make_client() -> httpx2.Client:
    """The client huggingface_hub shares between its calls (its factory, ours)."""
    import httpx2

    hooks: list = [_ask_gate]
    try:  # huggingface_hub's own hook: request ids, its offline flag, download counter
        from huggingface_hub.utils._http import hf_request_event_hook

        hooks.append(hf_request_event_hook)
    except ImportError:  # moved: ours still runs, the library's extras are lost
        log.warning("huggingface_hub's request hook moved; requests go without it")
    return httpx2.Client(
        event_hooks={"request": hooks},
        follow_redirects=True,
        timeout=None,
        verify=ssl_context(),
        trust_env=True,
    )


def prepare_hub() -> None:
    """Set huggingface_hub up the way Enclave needs it; cheap after the first call.

    Call before using the library (hub.py and the downloads do)."""
    global _installed
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.HF_HUB_DISABLE_IMPLICIT_TOKEN = True
    sync_hub_constants(not gate().is_open("search"))
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        from huggingface_hub import set_client_factory

        set_client_factory(make_client)
        _installed = True


def reset_client() -> None:
    """Make the next request build a new client (it reads the proxy settings when it is made)."""
    try:
        from huggingface_hub import close_session
    except ImportError:
        return
    close_session()
