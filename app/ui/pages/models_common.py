"""Small pieces the Models pages share: plain-words numbers and dates, fit badges, links,
and "this computer's hardware" fetched once off the GUI thread."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.core.cancel import CancelToken
from app.core.downloads import format_bytes
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    from app.core.fit import Fit
    from app.ui.main_window import MainWindow

__all__ = [
    "fit_label",
    "format_bytes",
    "format_count",
    "format_duration",
    "format_when",
    "linkify",
    "with_hardware",
]

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:)]")


def format_count(n: int) -> str:
    """12 -> "12", 12_345 -> "12.3K", 4_500_000 -> "4.5M"."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if n >= limit:
            return f"{n / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return str(n)


def format_when(value: str | float | None, now: float | None = None) -> str:
    """An ISO date or a timestamp as "today", "3 days ago", "2 months ago"... or "—"."""
    if value is None or value == "":
        return "—"
    try:
        if isinstance(value, str):
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            seconds = stamp.timestamp()
        else:
            seconds = float(value)
    except (ValueError, OverflowError):
        return "—"
    age = (now if now is not None else time.time()) - seconds
    days = int(age // 86400)
    if age < 3600:
        return "just now" if age < 120 else f"{int(age // 60)} minutes ago"
    if days < 1:
        hours = int(age // 3600)
        return "1 hour ago" if hours == 1 else f"{hours} hours ago"
    if days == 1:
        return "yesterday"
    if days < 31:
        return f"{days} days ago"
    if days < 365:
        months = days // 30
        return "1 month ago" if months <= 1 else f"{months} months ago"
    years = days // 365
    return "1 year ago" if years == 1 else f"{years} years ago"


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0 or seconds != seconds:  # NaN check
        return ""
    if seconds < 60:
        return f"{max(1, int(seconds))} s left"
    if seconds < 3600:
        return f"{int(seconds // 60)} min left"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min left"


def fit_label(fit: Fit | None) -> tuple[str, str]:
    """(short verdict, level) for a Fit; level is good / ok / slow / bad / unknown."""
    if fit is None:
        return "Checking…", "unknown"
    if fit.verdict == "gpu_full":
        return "Runs fully on your GPU", "good"
    if fit.verdict == "gpu_partial":
        total = max(fit.total_layers - 1, 0)  # the planner counts the output layer too
        on_gpu = max(fit.n_gpu_layers - 1, 0)
        # Plain words here; how many layers is in the tooltip (the planner's summary).
        return ("Partly on the GPU: a little slower" if total and on_gpu * 2 >= total
                else "Partly on the GPU: slower"), "ok"  # fmt: skip
    if fit.verdict == "cpu":
        return "On the processor only: slow", "slow"
    if fit.verdict == "too_large":
        return "Too large for this computer", "bad"
    return "Unknown", "unknown"


def linkify(text: str) -> str:
    """Plain text -> rich text with clickable http(s) links (for QLabel with open links)."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0), quote=True)
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out).replace("\n", "<br>")


def settings_can_fix(exc: Exception) -> bool:
    """A hub failure the Settings page can fix: a gated model (add the token) or no network
    (turn on offline mode). The notice then offers "Open Settings"."""
    from app.core.hub import GatedModelError, UnreachableError

    return isinstance(exc, (GatedModelError, UnreachableError))


def with_hardware(window: MainWindow, callback: Callable[[Any], None]) -> None:
    """Call back with window.hardware, detecting it on a worker first if needed (None: failed)."""
    if window.hardware is not None:
        callback(window.hardware)
        return

    def detect(_progress: ProgressFn, _cancel: CancelToken) -> Any:
        from app.core.fit import detect_hardware_safely

        return detect_hardware_safely()

    def done(hardware: Any) -> None:
        if hardware is not None and window.hardware is None:
            window.hardware = hardware
        callback(window.hardware)

    run_task(detect, name="hardware", on_result=done, on_error=lambda _exc: callback(None))
