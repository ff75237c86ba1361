"""Which Hugging Face token goes with a request: only the user's own, only where it is needed.

- The token is the one the user saved in Enclave (the OS keyring, app/core/secrets.py). A token
  another tool left behind (`HF_TOKEN`, or the plaintext token file in the Hugging Face folder)
  is used only when the user said yes to the window's one question about it
  (`Settings.other_hf_token == "use"`); the default is no. huggingface_hub is never left to
  find one on its own: without a token we pass `token=False` (and transport.py switches its
  implicit token off).
- Requests go anonymously first. Only when the hub answers 401/403 for a gated or private repo
  is the same request sent again with the token (`with_token_on_denial`); the repo is then
  remembered for this process, so the next parts of a download go with the token at once.
  Searches never carry it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from app.core.i18n import translate

log = logging.getLogger("app.core.net")

T = TypeVar("T")
OTHER_TOKEN_USE = "use"
OTHER_TOKEN_IGNORE = "ignore"
_ENV_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")

_needs_token: set[str] = set()
_needs_lock = threading.Lock()


def other_token_file() -> Path:
    """Where huggingface_hub's login writes its plaintext token (read at call time)."""
    explicit = os.environ.get("HF_TOKEN_PATH")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
    )
    return Path(os.path.expandvars(home)).expanduser() / "token"


def other_token() -> tuple[str, str] | None:
    """(where, token) for a token another tool left: the environment first, then the file."""
    for name in _ENV_NAMES:
        value = (os.environ.get(name) or "").strip()
        if value:
            return translate("tokens", "the {name} environment variable").format(name=name), value
    path = other_token_file()
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return (translate("tokens", "the file {path}").format(path=path), value) if value else None


def stored_token(explicit: str | None = None) -> str | None:
    """The token Enclave may send when a repo asks for one; None: there is none.

    `explicit` (a caller's own) first, then the keyring's, then another tool's if the user
    said yes to it. Never raises (a locked keyring is "no token")."""
    if explicit:
        return explicit
    from app.core import secrets

    token = secrets.get_token()
    if token:
        return token
    from app.core.net.gate import gate

    if gate().settings().other_hf_token == OTHER_TOKEN_USE:
        found = other_token()
        if found is not None:
            return found[1]
    return None


def is_denial(exc: BaseException) -> bool:
    """401/403 from the hub: a gated or private repo that a token might open."""
    from huggingface_hub import errors as hf_errors

    if isinstance(exc, hf_errors.GatedRepoError):
        return True
    if isinstance(exc, hf_errors.HfHubHTTPError):
        response = exc.response
        return response is not None and response.status_code in (401, 403)
    return False


def needs_token(repo_id: str) -> bool:
    with _needs_lock:
        return repo_id in _needs_token


def remember_needs_token(repo_id: str) -> None:
    with _needs_lock:
        _needs_token.add(repo_id)


def forget_needs_token() -> None:
    """Tests: start from anonymous again."""
    with _needs_lock:
        _needs_token.clear()


def with_token_on_denial(
    repo_id: str, explicit: str | None, call: Callable[[str | bool], T]
) -> tuple[T, str | bool]:
    """`call(False)` (anonymous); on a 401/403 and with a saved token, `call(token)` once more.

    The keyring is read only then (it may be slow, or ask to be unlocked). Returns the result
    and what was sent (False or the token), for the requests that follow (a download's GET
    after its HEAD). A repo known to need the token goes with it at once. `explicit`: a
    caller's own token, used in place of the saved one."""
    if needs_token(repo_id):
        token = stored_token(explicit)
        if token:
            return call(token), token
    try:
        return call(False), False
    except Exception as exc:
        if not is_denial(exc):
            raise
        token = stored_token(explicit)
        if not token:
            raise
        log.info("%s answered %s anonymously; sending the saved token", repo_id, type(exc).__name__)
    remember_needs_token(repo_id)
    return call(token), token
