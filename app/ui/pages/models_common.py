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
from app.core.i18n import number, translate
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
    for limit in (1_000_000_000, 1_000_000, 1_000):
        if n >= limit:
            value = float(f"{n / limit:.1f}")
            shown = number(value, 0 if value == int(value) else 1)
            if limit == 1_000_000_000:
                return translate("models_common", "{count}B").format(count=shown)
            if limit == 1_000_000:
                return translate("models_common", "{count}M").format(count=shown)
            return translate("models_common", "{count}K").format(count=shown)
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
        if age < 120:
            return translate("models_common", "just now")
        return translate("models_common", "%n minutes ago", n=int(age // 60))
    if days < 1:
        return translate("models_common", "%n hours ago", n=int(age // 3600))
    if days == 1:
        return translate("models_common", "yesterday")
    if days < 31:
        return translate("models_common", "%n days ago", n=days)
    if days < 365:
        return translate("models_common", "%n months ago", n=max(1, days // 30))
    return translate("models_common", "%n years ago", n=days // 365)


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0 or seconds != seconds:  # NaN check
        return ""
    if seconds < 60:
        return translate("models_common", "{seconds} s left").format(seconds=max(1, int(seconds)))
    if seconds < 3600:
        return translate("models_common", "{minutes} min left").format(minutes=int(seconds // 60))
    return translate("models_common", "{hours} h {minutes} min left").format(
        hours=int(seconds // 3600), minutes=int(seconds % 3600 // 60)
    )


def fit_label(fit: Fit | None) -> tuple[str, str]:
    """(short verdict, level) for a Fit; level is good / ok / slow / bad / unknown."""
    if fit is None:
        return translate("models_common", "Checking…"), "unknown"
    if fit.verdict == "gpu_full":
        return translate("models_common", "Runs fully on your GPU"), "good"
    if fit.verdict == "gpu_partial":
        total = max(fit.total_layers - 1, 0)  # the planner counts the output layer too
        on_gpu = max(fit.n_gpu_layers - 1, 0)
        # Plain words here; how many layers is in the tooltip (the planner's summary).
        if total and on_gpu * 2 >= total:
            return translate("models_common", "Partly on the GPU: a little slower"), "ok"
        return translate("models_common", "Partly on the GPU: slower"), "ok"
    if fit.verdict == "cpu":
        return translate("models_common", "On the processor only: slow"), "slow"
    if fit.verdict == "too_large":
        return translate("models_common", "Too large for this computer"), "bad"
    return translate("models_common", "Unknown"), "unknown"


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
