"""A server's address as a person types it, and as the app names it back to them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from app.core.engine import protocol as p
from app.core.engine.base import EngineError
from app.core.i18n import translate

_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/embeddings", "/models")


def normalize_base_url(address: str) -> str:
    """What the user typed -> the API base the openai client wants ("http://box:8000/v1").

    "box:8000", "http://box:8000/" and "http://box:8000/v1/chat/completions" all mean the same
    server; a path other than the endpoints (a gateway's "/llm/v1") is kept as typed."""
    text = address.strip()
    if not text:
        raise EngineError(
            p.ERROR_BAD_REQUEST,
            translate("remote_address", "Enter the server's address, for example http://ai-server:8000."),
        )
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    try:
        _ = parts.port  # raises for a port that is not a number
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise EngineError(
            p.ERROR_BAD_REQUEST,
            translate(
                "remote_address", "“{address}” is not a server address. It looks like http://ai-server:8000."
            ).format(address=address.strip()),
        )
    path = parts.path.rstrip("/")
    for suffix in _ENDPOINT_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((parts.scheme, parts.netloc, path or "/v1", "", ""))


def place_of(base_url: str) -> str:
    """The server's host, and its port when it is not the scheme's default: "ai-box:8000"."""
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    if ":" in host:
        host = f"[{host}]"  # IPv6
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"
