"""Which proxy a request goes through, for the sentences that name it.

The client (transport.py) lets httpx2 pick the proxy from `urllib.request.getproxies()`; this
asks the same function with httpx2's own matching rules, so the proxy named in an error is the
one the request really used. Credentials in a proxy address are never shown.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def proxy_for(url: str) -> str | None:
    """The proxy address requests to `url` use (without user name and password), or None."""
    try:
        from httpx2 import URL
        from httpx2._utils import URLPattern, get_environment_proxies
    except ImportError:  # httpx2 moved them: say nothing rather than something wrong
        return None
    try:
        target = URL(url)
        mounts = {URLPattern(key): value for key, value in get_environment_proxies().items()}
    except Exception:
        return None
    for pattern in sorted(mounts):
        if pattern.matches(target):
            value = mounts[pattern]
            return without_credentials(value) if value else None
    return None


def without_credentials(address: str) -> str:
    """`http://name:secret@proxy:3128` -> `http://proxy:3128`."""
    parts = urlsplit(address if "://" in address else f"http://{address}")
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
