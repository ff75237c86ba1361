"""Secrets kept in the OS keyring (`keyring`), never in a file or a log: the Hugging Face
token, the key of each company server Enclave talks to (one entry per server address, so
switching between two servers never sends one server's key to the other), and the key other
programs must send to Enclave's own local API (`get_api_key`, `regenerate_api_key`).

`get_token()` and `get_server_key()` never raise: a machine without a usable keyring simply has
no saved secret (and no token is sent: huggingface_hub is never left to find `HF_TOKEN` or its
own login, see app/core/net/tokens.py). The setters and deleters raise `SecretsError` with a
plain-words message when the keyring refuses.
"""

from __future__ import annotations

import contextlib
import logging
import secrets

from app.core.errors import PlainError
from app.core.i18n import translate

log = logging.getLogger(__name__)

SERVICE = "Enclave"
USERNAME = "huggingface-token"
API_KEY_USERNAME = "api-key"
API_KEY_PREFIX = "enclave-"
SERVER_KEY_PREFIX = "server-key:"  # + the server's address (see server_key_name)


class SecretsError(PlainError):
    """The OS keyring could not store or remove a secret."""


def get_token() -> str | None:
    try:
        import keyring

        value = keyring.get_password(SERVICE, USERNAME)
    except Exception as exc:  # no backend, locked keychain, D-Bus missing...
        log.info("No token from the keyring (%s)", type(exc).__name__)
        return None
    return value or None


def set_token(token: str) -> None:
    token = token.strip()
    if not token:
        delete_token()
        return
    try:
        import keyring

        keyring.set_password(SERVICE, USERNAME, token)
    except Exception as exc:
        raise SecretsError(
            translate(
                "secrets",
                "Your computer's password store could not save the Hugging Face token. "
                "Unlock it (or install one) and try again.",
            )
        ) from exc


def delete_token() -> None:
    try:
        import keyring
        from keyring.errors import PasswordDeleteError

        with contextlib.suppress(PasswordDeleteError):  # nothing saved: already gone
            keyring.delete_password(SERVICE, USERNAME)
    except Exception as exc:
        raise SecretsError(
            translate("secrets", "Your computer's password store could not remove the Hugging Face token.")
        ) from exc


def has_token() -> bool:
    return get_token() is not None


# ---- the key of a company server (the remote engine) ---------------------------------------
def server_key_name(server_url: str) -> str:
    """The keyring entry for one server: the address as typed, without the trailing slash, the
    "/v1" suffix or letter case in the host part, so "http://Box:8000/v1/" and "http://box:8000"
    share one key."""
    url = server_url.strip().rstrip("/")
    if url.lower().endswith("/v1"):
        url = url[:-3]
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    host, slash, path = rest.partition("/")
    return f"{SERVER_KEY_PREFIX}{scheme.lower()}://{host.lower()}{slash}{path}"


def get_server_key(server_url: str) -> str | None:
    if not server_url.strip():
        return None
    try:
        import keyring

        value = keyring.get_password(SERVICE, server_key_name(server_url))
    except Exception as exc:  # no backend, locked keychain, D-Bus missing...
        log.info("No server key from the keyring (%s)", type(exc).__name__)
        return None
    return value or None


def set_server_key(server_url: str, key: str) -> None:
    key = key.strip()
    if not key:
        delete_server_key(server_url)
        return
    try:
        import keyring

        keyring.set_password(SERVICE, server_key_name(server_url), key)
    except Exception as exc:
        raise SecretsError(
            translate(
                "secrets",
                "Your computer's password store could not save the server key. "
                "Unlock it (or install one) and try again.",
            )
        ) from exc


def delete_server_key(server_url: str) -> None:
    try:
        import keyring
        from keyring.errors import PasswordDeleteError

        with contextlib.suppress(PasswordDeleteError):  # nothing saved: already gone
            keyring.delete_password(SERVICE, server_key_name(server_url))
    except Exception as exc:
        raise SecretsError(
            translate("secrets", "Your computer's password store could not remove the server key.")
        ) from exc


# ---- the local API's key ------------------------------------------------------------------
def new_api_key() -> str:
    """A fresh key: 256 random bits, URL-safe, with a prefix that tells people what it is for."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def get_api_key() -> str | None:
    """The saved API key, or None (none saved yet, or no usable keyring). Never raises."""
    try:
        import keyring

        value = keyring.get_password(SERVICE, API_KEY_USERNAME)
    except Exception as exc:
        log.info("No API key from the keyring (%s)", type(exc).__name__)
        return None
    return value or None


def set_api_key(key: str) -> None:
    try:
        import keyring

        keyring.set_password(SERVICE, API_KEY_USERNAME, key)
    except Exception as exc:
        raise SecretsError(
            translate(
                "secrets",
                "Your computer's password store could not save the API key. "
                "Unlock it (or install one) and try again.",
            )
        ) from exc


def regenerate_api_key() -> str:
    """Make and save a new key (the old one stops working); raises SecretsError if not saved."""
    key = new_api_key()
    set_api_key(key)
    return key
