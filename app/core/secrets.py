"""The Hugging Face token, kept in the OS keyring (`keyring`), never in a file or a log.

`get_token()` never raises: a machine without a usable keyring simply has no saved token (and
huggingface_hub then falls back to `HF_TOKEN` or its own login). `set_token()` and
`delete_token()` raise `SecretsError` with a plain-words message when the keyring refuses.
"""

from __future__ import annotations

import contextlib
import logging

from app.core.errors import PlainError

log = logging.getLogger(__name__)

SERVICE = "Enclave"
USERNAME = "huggingface-token"


class SecretsError(PlainError):
    """The OS keyring could not store or remove the token."""


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
            "Your computer's password store could not save the Hugging Face token. "
            "Unlock it (or install one) and try again."
        ) from exc


def delete_token() -> None:
    try:
        import keyring
        from keyring.errors import PasswordDeleteError

        with contextlib.suppress(PasswordDeleteError):  # nothing saved: already gone
            keyring.delete_password(SERVICE, USERNAME)
    except Exception as exc:
        raise SecretsError(
            "Your computer's password store could not remove the Hugging Face token."
        ) from exc


def has_token() -> bool:
    return get_token() is not None
