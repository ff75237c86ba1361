"""Problems of reaching Hugging Face, worded for the person in front of the screen.

They live here, below app.core.hub, because the network gate raises them before any socket is
opened; hub.py re-exports every one, so `app.core.hub.OfflineError` and friends stay the names
the rest of the app uses. `str()` of each is a sentence a non-technical person understands; the
original exception stays in `__cause__` for the log.
"""

from __future__ import annotations

from app.core.errors import PlainError
from app.core.i18n import translate


class HubError(PlainError):
    """A hub problem, worded for the person in front of the screen."""


class OfflineError(HubError):
    """The network gate is closed: nothing was sent. Subclasses say who closed it."""

    def __init__(self, text: str = "") -> None:
        super().__init__(
            text
            or translate(
                "errors",
                "Offline mode is on, so Enclave does not connect to the internet. "
                "Turn it off in Settings to search or download models.",
            )
        )


class EnvironmentOfflineError(OfflineError):
    """HF_HUB_OFFLINE was set for Enclave from outside (a script, a shortcut, IT)."""

    def __init__(self) -> None:
        super().__init__(
            translate(
                "errors",
                "Offline mode is on for this computer (HF_HUB_OFFLINE is set), so Enclave does not "
                "connect to the internet. The models already on this computer work as usual.",
            )
        )


class PolicyOfflineError(OfflineError):
    """The organisation's policy says offline only (app.core.policy, offline_only)."""

    def __init__(self) -> None:
        super().__init__(
            translate(
                "errors",
                "Your organisation has set Enclave to work offline, so it does not connect to the "
                "internet. The models already on this computer work as usual.",
            )
        )


class DownloadsOffError(OfflineError):
    """The organisation's policy switched model downloads off (allow_downloads: false)."""

    def __init__(self) -> None:
        super().__init__(
            translate(
                "errors",
                "Your organisation has switched model downloads off in Enclave. Ask your IT "
                "department for the model you need.",
            )
        )


class NetworkError(HubError):
    def __init__(self, detail: str = "") -> None:
        if detail:  # what went wrong, in a few words (or the exception's name)
            text = translate(
                "errors",
                "Could not reach Hugging Face. Check your internet connection and try again. ({detail})",
            ).format(detail=detail)
        else:
            text = translate(
                "errors", "Could not reach Hugging Face. Check your internet connection and try again."
            )
        super().__init__(text)


class UnreachableError(NetworkError):
    """No connection at all: the connection was refused or the hub's name does not resolve."""

    def __init__(self) -> None:
        HubError.__init__(
            self,
            translate(
                "errors",
                "Enclave cannot reach Hugging Face. Check your internet connection, or turn on "
                "offline mode in Settings to work with the models already on this computer.",
            ),
        )


class CertificateError(NetworkError):
    """The TLS certificate the connection showed is not trusted by this computer."""

    def __init__(self, host: str, why: str, proxy: str | None) -> None:
        self.host, self.why, self.proxy = host, why, proxy
        if proxy:
            text = translate(
                "errors",
                "Enclave connected through the proxy {proxy}, but could not trust the security "
                "certificate it was shown for {host}: {why}. Your company's proxy probably "
                "inspects secure connections; ask your IT department to add the company "
                "certificate to this computer's certificate store, then try again.",
            ).format(proxy=proxy, host=host, why=why)
        else:
            text = translate(
                "errors",
                "Enclave could not trust the security certificate of {host}: {why}. If your "
                "company inspects secure connections, ask your IT department to add the "
                "company certificate to this computer's certificate store, then try again.",
            ).format(host=host, why=why)
        HubError.__init__(self, text)


class ProxyError(NetworkError):
    """The proxy this computer is set to use could not be reached, or refused the connection."""

    def __init__(self, proxy: str, host: str, status: int = 0) -> None:
        self.proxy, self.host, self.status = proxy, host, status
        if status == 407:
            text = translate(
                "errors",
                "The proxy {proxy} asks for a user name and password that Enclave does not "
                "have. Ask your IT department, or put them into the proxy address "
                "(HTTPS_PROXY=http://name:password@host:port), then try again.",
            ).format(proxy=proxy)
        elif status:
            text = translate(
                "errors",
                "The proxy {proxy} refused the connection to {host} (it answered {status}). "
                "Ask your IT department whether Hugging Face may be reached through it.",
            ).format(proxy=proxy, host=host, status=status)
        else:
            text = translate(
                "errors",
                "Enclave could not connect to the proxy {proxy} that this computer is set to "
                "use. Check the proxy settings, or ask your IT department, then try again.",
            ).format(proxy=proxy)
        HubError.__init__(self, text)
