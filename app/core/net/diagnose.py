"""Name what went wrong on the way: a certificate this computer does not trust, or the proxy.

`connection_problem(exc, url)` looks through an exception and its causes (huggingface_hub and
httpx2 wrap them) for the two things a person behind a company network can act on, and returns
the sentence for it, naming the proxy the request used (proxy.py) and the host it was for.
None: something else (the caller's general wording applies).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

from app.core.i18n import translate, translate_noop
from app.core.net.errors import CertificateError, HubError, ProxyError
from app.core.net.proxy import proxy_for

# OpenSSL's reasons, in words a non-technical person can pass on to IT (translated where used)
_UNTRUSTED = translate_noop("diagnose", "it was issued by an authority this computer does not trust")
_OTHER_ADDRESS = translate_noop("diagnose", "it was made out for another address")
_WHY = (
    ("unable to get local issuer", _UNTRUSTED),
    ("self-signed", _UNTRUSTED),
    ("self signed", _UNTRUSTED),
    ("unable to verify the first", _UNTRUSTED),
    ("expired", translate_noop("diagnose", "it has expired")),
    ("not yet valid", translate_noop("diagnose", "it is not valid yet (is this computer's clock right?)")),
    ("hostname mismatch", _OTHER_ADDRESS),
    ("ip address mismatch", _OTHER_ADDRESS),
    ("revoked", translate_noop("diagnose", "it has been revoked")),
)
_STATUS = re.compile(r"^\s*(\d{3})\b")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _request_url(exc: BaseException, fallback: str) -> str:
    for item in _chain(exc):
        try:
            request = item.request  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):  # httpx2 raises RuntimeError when unset
            continue
        url = getattr(request, "url", None)
        if url is not None:
            return str(url)
    return fallback


def certificate_reason(exc: BaseException) -> str | None:
    """The plain reason when `exc` is (or was caused by) a refused TLS certificate."""
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            text = f"{item.verify_message or ''} {item}".lower()
            break
        text = str(item).lower()
        if "certificate_verify_failed" in text or "certificate verify failed" in text:
            break
    else:
        return None
    for needle, words in _WHY:
        if needle in text:
            return translate("diagnose", words)
    return translate("diagnose", "this computer does not accept it")


def is_certificate_error(exc: BaseException) -> bool:
    return certificate_reason(exc) is not None


def connection_problem(exc: BaseException, url: str) -> HubError | None:
    """A CertificateError or ProxyError for `exc`, or None. `url`: where it was going."""
    try:
        import httpx2
    except ImportError:  # pragma: no cover - a dependency
        return None
    target = _request_url(exc, url)
    host = urlsplit(target).hostname or target
    proxy = proxy_for(target)
    why = certificate_reason(exc)
    if why is not None:
        return CertificateError(host, why, proxy)
    for item in _chain(exc):
        if isinstance(item, httpx2.ProxyError):
            match = _STATUS.match(str(item))
            status = int(match.group(1)) if match else 0
            return ProxyError(proxy or translate("diagnose", "set for this computer"), host, status)
    if proxy is not None:
        for item in _chain(exc):
            # With a proxy, every connection opens to the proxy: one that fails never reached it.
            if isinstance(item, (httpx2.ConnectError, httpx2.ConnectTimeout)):
                return ProxyError(proxy, host)
    return None
