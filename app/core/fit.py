"""Will this model run well here? A verdict per file, and the best choice among quantizations.

A thin layer over app.core.planner: `plan_from_file_size` for files not downloaded yet (hub
pages, the starter catalog), `plan_offload` on real GGUF facts for files on disk. Both are
cheap (no file is read for a size-only verdict); `fit_for_path` reads the GGUF header, so call
it on a worker thread.

Best choice (model page highlight, "recommended for this computer"): the largest file that
fits entirely on the GPU; if none does, the largest that still fits in RAM (partly on the GPU
or on the CPU); if nothing fits, none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.i18n import translate, translate_noop

if TYPE_CHECKING:
    from app.core.hardware import HardwareInfo
    from app.core.planner import OffloadPlan

log = logging.getLogger(__name__)

FITS = ("gpu_full", "gpu_partial", "cpu")
_RANK = {"gpu_full": 3, "gpu_partial": 2, "cpu": 1, "too_large": 0, "unknown": -1}


@dataclass(frozen=True)
class Fit:
    """verdict: gpu_full | gpu_partial | cpu | too_large | unknown."""

    verdict: str
    summary: str
    n_gpu_layers: int = 0
    total_layers: int = 0

    @property
    def fits(self) -> bool:
        return self.verdict in FITS

    @property
    def rank(self) -> int:
        return _RANK.get(self.verdict, -1)


_UNKNOWN_SUMMARY = translate_noop("fit", "Enclave could not tell whether this model fits this computer.")


def unknown_fit() -> Fit:
    """The verdict when nothing can be judged, in the chosen language (built when asked)."""
    return Fit("unknown", translate("fit", _UNKNOWN_SUMMARY))


def __getattr__(name: str) -> Fit:
    # `UNKNOWN` is built when read, not at import: the translator is installed later.
    if name == "UNKNOWN":
        return unknown_fit()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _from_plan(plan: OffloadPlan) -> Fit:
    return Fit(plan.verdict, plan.summary, plan.n_gpu_layers, plan.total_layers)


def _layers_guess(size: int) -> int:
    """A typical layer count for a model of this file size (only used before download)."""
    gb = size / 1e9
    for limit, layers in ((1.0, 24), (3.0, 28), (6.0, 32), (12.0, 40), (25.0, 48), (50.0, 64)):
        if gb <= limit:
            return layers
    return 80


def fit_for_size(size: int, hardware: HardwareInfo, wanted_ctx: int | None = None) -> Fit:
    try:
        from app.core.planner import plan_from_file_size

        plan = plan_from_file_size(size, hardware, wanted_ctx, n_layers_guess=_layers_guess(size))
    except Exception:  # the planner must never break a listing
        log.exception("Size-only plan failed for %d bytes", size)
        return unknown_fit()
    return _from_plan(plan)


def fit_for_path(path: Path, hardware: HardwareInfo, wanted_ctx: int | None = None) -> Fit:
    """Plan from the GGUF's own facts; falls back to its size if the header is unreadable."""
    try:
        from app.core.gguf_facts import read_model_facts
        from app.core.planner import plan_offload

        return _from_plan(plan_offload(read_model_facts(path), hardware, wanted_ctx))
    except Exception as exc:
        log.info("No facts for %s (%s); judging by size", path, exc)
        try:
            size = path.stat().st_size
        except OSError:
            return unknown_fit()
        return fit_for_size(size, hardware, wanted_ctx)


def best_index(sizes: Sequence[int], fits: Sequence[Fit]) -> int | None:
    """Index of the best choice: largest gpu_full, else largest that fits in RAM."""
    for wanted in (("gpu_full",), ("gpu_partial", "cpu")):
        candidates = [i for i, f in enumerate(fits) if f.verdict in wanted]
        if candidates:
            return max(candidates, key=lambda i: sizes[i])
    return None


def detect_hardware_safely() -> HardwareInfo | None:
    try:
        from app.core.hardware import detect_hardware

        return detect_hardware()
    except Exception:
        log.exception("Hardware detection failed")
        return None
