"""Download errors worded for the user, and the cancel token that says why a download stopped."""

from __future__ import annotations

from pathlib import Path

from app.core.cancel import Cancelled
from app.core.cancel import CancelToken as BaseCancelToken
from app.core.downloads.progress import format_bytes
from app.core.errors import DiskFullError
from app.core.hub import HubError, InvalidNameError
from app.core.i18n import translate


class DownloadError(HubError):
    """A download problem worded for the user."""


class VerificationError(DownloadError):
    def __init__(self, filename: str) -> None:
        super().__init__(
            translate(
                "errors",
                "The downloaded file {file} is damaged: its checksum does not match the one "
                "Hugging Face published. It was deleted and not added to your models; "
                "please download it again.",
            ).format(file=filename)
        )


class NotEnoughSpaceError(DownloadError):
    def __init__(self, needed: int, free: int, where: Path) -> None:
        self.needed, self.free = needed, free
        super().__init__(
            translate(
                "errors",
                "Not enough disk space: this model needs {needed} but only {free} is free in "
                "{folder}. Free some space or choose another models folder in Settings.",
            ).format(needed=format_bytes(needed), free=format_bytes(free), folder=where)
        )


class DiskFullDownloadError(DownloadError, DiskFullError):
    def __init__(self, where: Path) -> None:
        super().__init__(
            translate(
                "errors",
                "The disk is full: the model could not be written to {folder}. What was "
                "downloaded so far is kept; free some space, then resume the download.",
            ).format(folder=where)
        )


class UnsafePathError(DownloadError, InvalidNameError):
    def __init__(self, name: str) -> None:
        DownloadError.__init__(
            self,
            translate(
                "errors",
                "Refused to save {name}: that name would put the file outside the models folder.",
            ).format(name=repr(name)),
        )


class DownloadCancelled(Cancelled):
    """Raised by download_model when its CancelToken is set. `reason`: cancel, pause, shutdown,
    offline (the network gate closed: the download waits for it)."""

    def __init__(self, reason: str = "cancel") -> None:
        if reason == "pause":
            text = translate("errors", "Download paused.")
        elif reason == "offline":
            text = translate("errors", "Download waiting: Enclave is offline.")
        else:
            text = translate("errors", "Download cancelled.")
        super().__init__(text)
        self.reason = reason


class CancelToken(BaseCancelToken):
    """app.core.cancel's token plus a reason ("cancel", "pause", "shutdown").

    download_model accepts any app.core.cancel.CancelToken; a plain one means "cancel".
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason = "cancel"

    def cancel(self, reason: str = "cancel") -> None:
        self.reason = reason
        super().cancel()


def reason_of(token: BaseCancelToken) -> str:
    return str(getattr(token, "reason", "cancel"))


def check_cancelled(token: BaseCancelToken) -> None:
    if token.cancelled:
        raise DownloadCancelled(reason_of(token))
