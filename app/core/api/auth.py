"""The API key: every request must send it (`Authorization: Bearer KEY`), also on loopback.

Why always, even on 127.0.0.1: any program or web page on the computer can reach loopback, and
a browser page could otherwise make the model work for it. The key comes from, in order: the
`--api-key` option, the `ENCLAVE_API_KEY` environment variable, the OS keyring; if none has one,
a new key is made and saved in the keyring (and shown once).
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from dataclasses import dataclass

from app.core import secrets
from app.core.api.errors import ApiError

log = logging.getLogger("enclave.api")

ENV_VAR = "ENCLAVE_API_KEY"


@dataclass(frozen=True)
class ResolvedKey:
    key: str
    source: str  # "option" | "environment" | "keyring" | "generated"
    saved: bool = True  # False: generated, but the keyring could not keep it (valid this run only)

    @property
    def generated(self) -> bool:
        return self.source == "generated"


def resolve_api_key(explicit: str | None = None) -> ResolvedKey:
    """The key to require, from the option, the environment, the keyring, or a new one."""
    if explicit and explicit.strip():
        return ResolvedKey(explicit.strip(), "option")
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return ResolvedKey(from_env, "environment")
    saved = secrets.get_api_key()
    if saved:
        return ResolvedKey(saved, "keyring")
    key = secrets.new_api_key()
    try:
        secrets.set_api_key(key)
    except secrets.SecretsError:
        log.warning("the new API key could not be saved in the keyring; it is valid until the server stops")
        return ResolvedKey(key, "generated", saved=False)
    return ResolvedKey(key, "generated")


class KeyCheck:
    """The key the server accepts now; replaceable while it runs ("New key" in Settings)."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the API needs a key")
        self._key = key
        self._lock = threading.Lock()

    def replace(self, key: str) -> None:
        if not key:
            raise ValueError("the API needs a key")
        with self._lock:
            self._key = key

    def check(self, authorization: str | None) -> None:
        """Raise ApiError 401 unless the header carries the key (compared in constant time)."""
        if not authorization:
            raise ApiError(
                401,
                "This API needs a key. Send it as the header 'Authorization: Bearer <key>'; "
                "Enclave shows the key in Settings.",
                "authentication_error",
                "missing_api_key",
            )
        scheme, _, given = authorization.partition(" ")
        with self._lock:
            expected = self._key
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise ApiError(
                401,
                "The API key is wrong. Copy the current key from Enclave's Settings.",
                "authentication_error",
                "invalid_api_key",
            )
