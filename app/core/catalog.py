"""The curated starter catalog (resources/catalog.json) and "the recommended model here".

Works without network: the catalog ships with the app and the choice is made from its sizes
and this machine's hardware (app.core.fit). Downloading the choice then goes through
app.core.downloads like any other model.

Recommendation: among general-purpose entries, the largest that fits fully on the GPU; without
such a GPU, the largest that fits in RAM and is at most CPU_COMFORT_BYTES (bigger models answer
too slowly on a processor alone); failing that, the smallest entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import paths

if TYPE_CHECKING:
    from app.core.fit import Fit
    from app.core.hardware import HardwareInfo

CATALOG_FILE = "catalog.json"
CPU_COMFORT_BYTES = 5_000_000_000


class CatalogError(Exception):
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
        raise CatalogError(f"The starter model list could not be read ({path}).") from exc
    return sorted(entries, key=lambda e: e.size_bytes)


def assess_catalog(
    hardware: HardwareInfo, entries: list[CatalogEntry] | None = None
) -> list[tuple[CatalogEntry, Fit]]:
    from app.core.fit import fit_for_size

    entries = entries if entries is not None else load_catalog()
    return [(entry, fit_for_size(entry.size_bytes, hardware)) for entry in entries]


def recommend(
    hardware: HardwareInfo, entries: list[CatalogEntry] | None = None
) -> tuple[CatalogEntry, Fit]:
    """The model 'Get the recommended model for this computer' downloads."""
    assessed = [(e, f) for e, f in assess_catalog(hardware, entries) if e.general]
    if not assessed:
        raise CatalogError("The starter model list is empty.")
    on_gpu = [(e, f) for e, f in assessed if f.verdict == "gpu_full"]
    if on_gpu:
        return max(on_gpu, key=lambda ef: ef[0].size_bytes)
    in_ram = [(e, f) for e, f in assessed if f.fits and e.size_bytes <= CPU_COMFORT_BYTES]
    if in_ram:
        return max(in_ram, key=lambda ef: ef[0].size_bytes)
    return min(assessed, key=lambda ef: ef[0].size_bytes)
