"""Progress reports: what the GUI and the CLI see, at most about ten times a second."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.i18n import number, translate

PROGRESS_INTERVAL = 0.1


@dataclass(frozen=True)
class Progress:
    """A progress report. `speed` in bytes/s; `eta` in seconds (None: unknown)."""

    job_id: str
    repo_id: str
    filename: str
    downloaded: int
    total: int
    speed: float
    eta: float | None
    state: str  # "checking" | "downloading" | "retrying" | "verifying" | "done"
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.downloaded / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]


def format_bytes(n: float) -> str:
    """A size as people read it: "512 B", "4.7 GB" (French writes "4,7 Go")."""
    if abs(n) < 1000:
        return translate("progress", "{amount} B").format(amount=number(n))
    n /= 1000
    if abs(n) < 1000:
        return translate("progress", "{amount} KB").format(amount=number(n, 1))
    n /= 1000
    if abs(n) < 1000:
        return translate("progress", "{amount} MB").format(amount=number(n, 1))
    n /= 1000
    if abs(n) < 1000:
        return translate("progress", "{amount} GB").format(amount=number(n, 1))
    return translate("progress", "{amount} TB").format(amount=number(n / 1000, 1))


@dataclass
class Meter:
    """Turns byte counts into throttled Progress reports with a smoothed speed and an ETA."""

    job_id: str
    repo_id: str
    filename: str
    total: int
    done_before: int = 0  # completed parts + bytes on disk when this run started
    callback: ProgressCallback | None = None
    speed: float = 0.0
    _last_t: float = field(default_factory=time.monotonic)
    _last_n: int = 0

    def report(self, downloaded: int, state: str, message: str = "", force: bool = False) -> None:
        now = time.monotonic()
        dt = now - self._last_t
        if not force and dt < PROGRESS_INTERVAL:
            return
        if dt > 0 and downloaded >= self._last_n:
            instant = (downloaded - self._last_n) / dt
            self.speed = instant if self.speed == 0 else 0.7 * self.speed + 0.3 * instant
        self._last_t, self._last_n = now, downloaded
        eta = (self.total - downloaded) / self.speed if self.speed > 0 else None
        if self.callback is not None:
            self.callback(
                Progress(
                    self.job_id,
                    self.repo_id,
                    self.filename,
                    downloaded,
                    self.total,
                    self.speed,
                    eta,
                    state,
                    message,
                )
            )
