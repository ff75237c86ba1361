"""The curated starter catalog (resources/catalog.json) and "the recommended model here".

Works without network: the catalog ships with the app and the choice is made from its sizes
and this machine's hardware (app.core.fit). Downloading the choice then goes through
app.core.downloads like any other model.

File names in the catalog are checked against the repo's listing when the download starts
(`pick_file`): if the exact file is not there, the file of the same quantization (Q4_K_M...)
in that repo is taken, else the planner's best fit for this computer, and the user is told so.

Recommendation, when this machine's speed is known (app.core.speed): among general-purpose
entries that fit, the largest that is also fast enough to use (predicted at least 8 tokens a
second and the first word of a 2,000-token document question within 10 s); if none is, the
fastest that fits; if none fits, the smallest. Without a speed profile (not measured yet): the
largest that fits fully on the GPU; without such a GPU, the largest that fits in RAM and is at
most CPU_COMFORT_BYTES; failing that, the smallest entry.
"""

from __future__ import annotations

import difflib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import paths
from app.core.errors import PlainError
from app.core.i18n import translate

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.core.fit import Fit
    from app.core.hardware import HardwareInfo
    from app.core.hub import GGUFFile, ModelDetails
    from app.core.speed.predict import Prediction
    from app.core.speed.profile import MachineProfile

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
CPU_COMFORT_BYTES = 5_000_000_000


class CatalogError(PlainError):
    pass


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    repo_id: str
    filename: str
    size_bytes: int
    params: str
    license: str
    good_for: str
    general: bool = True


def catalog_path() -> Path:
    return paths.resources_dir() / CATALOG_FILE


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """Entries, smallest first."""
    path = path or catalog_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = [CatalogEntry(**item) for item in raw["models"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogError(
            translate("catalog", "The starter model list could not be read ({path}).").format(path=path)
        ) from exc
    return sorted(entries, key=lambda e: e.size_bytes)


def assess_catalog(
    hardware: HardwareInfo, entries: list[CatalogEntry] | None = None
) -> list[tuple[CatalogEntry, Fit]]:
    from app.core.fit import fit_for_size

    entries = entries if entries is not None else load_catalog()
    return [(entry, fit_for_size(entry.size_bytes, hardware)) for entry in entries]


def predict_entry(entry: CatalogEntry, profile: MachineProfile, fit: Fit) -> Prediction:
    """Predicted speed of a starter model here, from its size and quantization (not downloaded)."""
    from app.core.hub import parse_quant, quant_bits
    from app.core.speed.predict import predict_size

    quant = parse_quant(entry.filename)
    return predict_size(
        entry.size_bytes, quant_bits(quant), profile, fit.n_gpu_layers, fit.total_layers, quant
    )


def assess_speeds(
    assessed: list[tuple[CatalogEntry, Fit]], profile: MachineProfile | None
) -> list[Prediction | None]:
    """One prediction per assessed entry (None: no profile yet, or it does not fit)."""
    if profile is None:
        return [None for _ in assessed]
    return [predict_entry(e, profile, f) if f.fits else None for e, f in assessed]


def recommend(
    hardware: HardwareInfo,
    entries: list[CatalogEntry] | None = None,
    profile: MachineProfile | None = None,
) -> tuple[CatalogEntry, Fit]:
    """The model 'Get the recommended model for this computer' downloads."""
    assessed = [(e, f) for e, f in assess_catalog(hardware, entries) if e.general]
    if not assessed:
        raise CatalogError(translate("catalog", "The starter model list is empty."))
    if profile is not None:
        fitting = [(e, f) for e, f in assessed if f.fits]
        if not fitting:
            return min(assessed, key=lambda ef: ef[0].size_bytes)
        speeds = {e.id: predict_entry(e, profile, f) for e, f in fitting}
        fast = [(e, f) for e, f in fitting if speeds[e.id].fast_enough]
        if fast:
            return max(fast, key=lambda ef: ef[0].size_bytes)
        return max(fitting, key=lambda ef: speeds[ef[0].id].decode_tokens_per_s)
    on_gpu = [(e, f) for e, f in assessed if f.verdict == "gpu_full"]
    if on_gpu:
        return max(on_gpu, key=lambda ef: ef[0].size_bytes)
    in_ram = [(e, f) for e, f in assessed if f.fits and e.size_bytes <= CPU_COMFORT_BYTES]
    if in_ram:
        return max(in_ram, key=lambda ef: ef[0].size_bytes)
    return min(assessed, key=lambda ef: ef[0].size_bytes)


def pick_file(
    details: ModelDetails,
    wanted: str,
    hardware: Callable[[], HardwareInfo | None] | None = None,
) -> tuple[GGUFFile, str]:
    """The file to download for `wanted` in `details`' repo, and what to tell the user.

    The note is empty when `wanted` is there. Otherwise: the file of the same quantization
    (from the name, case-insensitive; the closest name if several), else the planner's best
    fit for this computer (`hardware` is only called then), else, with no hardware facts, the
    file nearest in bits per weight. Raises NotFoundError for a repo without GGUF files and
    HubError when none of its files fits this computer.
    """
    from app.core.hub import HubError, NotFoundError, parse_quant, quant_bits

    exact = details.find(wanted)
    if exact is not None:
        return exact, ""
    files = list(details.files)
    if not files:
        raise NotFoundError.file(wanted, details.repo_id)
    quant = parse_quant(wanted)
    same = [f for f in files if quant != "other" and f.quant == quant]
    if same:
        chosen = max(same, key=lambda f: (_likeness(f.filename, wanted), not f.is_split, -f.size))
        note = translate(
            "catalog",
            "The starter list names {wanted}, which {repo} does not have; "
            "downloading {chosen} instead (the same {quant} quantization).",
        )
        return chosen, note.format(wanted=wanted, repo=details.repo_id, chosen=chosen.filename, quant=quant)
    from app.core.fit import best_index, fit_for_size

    facts = hardware() if hardware is not None else None
    near = quant if quant != "other" else "Q4_K_M"  # the catalog's usual balance
    if facts is not None:
        fits = [fit_for_size(f.size, facts) for f in files]
        best = best_index([f.size for f in files], fits)
        if best is None:
            raise HubError(
                translate(
                    "catalog",
                    "The starter list names {wanted}, which {repo} does not have, "
                    "and none of its other files fits this computer. "
                    "Choose another starter model.",
                ).format(wanted=wanted, repo=details.repo_id)
            )
        chosen = files[best]
        note = translate(
            "catalog",
            "The starter list names {wanted}, which {repo} does not have; "
            "downloading {chosen} instead ({quant}, the best fit for this computer).",
        )
    else:
        chosen = min(files, key=lambda f: (abs(f.bits - quant_bits(near)), f.size))
        note = translate(
            "catalog",
            "The starter list names {wanted}, which {repo} does not have; "
            "downloading {chosen} instead ({quant}, the nearest quantization to {near}).",
        )
    return chosen, note.format(
        wanted=wanted,
        repo=details.repo_id,
        chosen=chosen.filename,
        quant=chosen.quant,
        near=near,
    )


def _likeness(name: str, wanted: str) -> float:
    base = name.rsplit("/", 1)[-1].lower()
    return difflib.SequenceMatcher(None, base, wanted.rsplit("/", 1)[-1].lower()).ratio()
