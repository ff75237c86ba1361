"""Every GGUF model on this computer, used where it is (never copied).

Sources, in this order:

- `enclave`: our models folder, `<models>/<owner>/<repo>/<file>.gguf` (the only source whose
  files Enclave may delete). Its `.downloads/` staging folder is never listed: a model appears
  only once it is complete and verified.
- `organisation`: the `models_folder` of the organisation's policy (app/core/policy.py), often a
  read-only network share: same layout, used in place, never written to or deleted from.
- `extra`: folders the user added in Settings (`extra_model_dirs`).
- When `Settings.scan_other_apps` is on: the Hugging Face cache (`hf-cache`), LM Studio
  (`lmstudio`), GPT4All (`gpt4all`) and Ollama (`ollama`; its GGUF blobs live under
  `~/.ollama/models/blobs/sha256-<hex>`, named by the manifests under `manifests/`).

`scan_library()` walks folders and reads no file contents except Ollama manifests and 4-byte
GGUF magics, so it is quick, but still call it from a worker thread. Split sets
(`-00001-of-00003`) are one entry whose `path` is the first part. `fit()` reads the GGUF header
(worker thread). `<data>/library.json` remembers the models the user opened (`mark_used()`, with
when) or added by hand (`add_model_file()`): they stay in the Library wherever they are, and a
file that went away is listed as missing until the user removes it (`forget_model()`).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import paths
from app.core.errors import PlainError
from app.core.i18n import translate, translate_noop
from app.core.settings import Settings, atomic_write_text, load_settings

if TYPE_CHECKING:
    from app.core.fit import Fit
    from app.core.hardware import HardwareInfo

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_OLLAMA_MODEL = "application/vnd.ollama.image.model"
# Shown as translate("library", label); product names stay as they are.
SOURCE_LABELS = {
    "enclave": "Enclave",
    "organisation": translate_noop("library", "Organisation"),
    "extra": translate_noop("library", "Your folder"),
    "opened": translate_noop("library", "Your file"),
    "hf-cache": translate_noop("library", "Hugging Face cache"),
    "lmstudio": "LM Studio",
    "gpt4all": "GPT4All",
    "ollama": "Ollama",
}


class LibraryError(PlainError):
    """A library action that cannot be done, in plain words."""


@dataclass
class LocalModel:
    path: Path  # what llama.cpp opens (first part of a split set)
    name: str  # display name
    source: str  # enclave | extra | opened | hf-cache | lmstudio | gpt4all | ollama
    size: int  # all parts together
    modified: float
    repo_id: str | None = None  # owner/repo when known
    parts: list[Path] = field(default_factory=list)
    last_used: float | None = None
    missing: bool = False  # remembered, but the file is no longer there

    @property
    def deletable(self) -> bool:
        return self.source == "enclave" and not self.missing

    @property
    def removable(self) -> bool:
        """Listed because the user opened or added it: it can leave the list (the file stays)."""
        return self.source == "opened"

    @property
    def key(self) -> str:
        return str(self.path)

    def fit(self, hardware: HardwareInfo, wanted_ctx: int | None = None) -> Fit:
        from app.core.fit import fit_for_path, fit_for_size

        if len(self.parts) > 1:
            return fit_for_size(self.size, hardware, wanted_ctx)
        return fit_for_path(self.path, hardware, wanted_ctx)


# -- where other apps keep models -----------------------------------------------------------
def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"


def lmstudio_dirs() -> list[Path]:
    home = Path.home()
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def gpt4all_dirs() -> list[Path]:
    home = Path.home()
    if sys.platform == "darwin":
        return [home / "Library" / "Application Support" / "nomic.ai" / "GPT4All"]
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return [Path(local) / "nomic.ai" / "GPT4All"]
    data = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return [Path(data) / "nomic.ai" / "GPT4All"]


def ollama_dir() -> Path:
    if os.environ.get("OLLAMA_MODELS"):
        return Path(os.environ["OLLAMA_MODELS"]).expanduser()
    return Path.home() / ".ollama" / "models"


# -- scanning -------------------------------------------------------------------------------
def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _walk_gguf(root: Path) -> Iterator[Path]:
    """*.gguf files under root, skipping hidden folders (our staging) and symlink loops."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.lower().endswith(".gguf") and not name.startswith("."):
                yield Path(dirpath) / name


def _group(files: Iterable[Path]) -> list[list[Path]]:
    """Files -> models: single files, and complete split sets (first part first)."""
    singles: list[list[Path]] = []
    sets: dict[tuple[Path, str, int], dict[int, Path]] = {}
    for file in files:
        match = _SPLIT.match(file.name)
        if match:
            key = (file.parent, match.group("stem"), int(match.group("count")))
            sets.setdefault(key, {})[int(match.group("index"))] = file
        else:
            singles.append([file])
    for (_, _, count), found in sets.items():
        if sorted(found) == list(range(1, count + 1)):
            singles.append([found[i] for i in range(1, count + 1)])
    return singles


def _stat(files: list[Path]) -> tuple[int, float] | None:
    try:
        stats = [f.stat() for f in files]  # follows symlinks (HF cache snapshots)
    except OSError:
        return None
    return sum(s.st_size for s in stats), max(s.st_mtime for s in stats)


def _model(files: list[Path], source: str, name: str, repo_id: str | None) -> LocalModel | None:
    facts = _stat(files)
    if facts is None:
        return None
    return LocalModel(files[0], name, source, facts[0], facts[1], repo_id, files)


def scan_models_dir(root: Path, source: str = "enclave") -> list[LocalModel]:
    found = []
    for files in _group(_walk_gguf(root)):
        rel = files[0].relative_to(root)
        repo_id = "/".join(rel.parts[:2]) if len(rel.parts) >= 3 else None
        model = _model(files, source, files[0].name, repo_id)
        if model is not None:
            found.append(model)
    return found


def scan_hf_cache(root: Path | None = None) -> list[LocalModel]:
    """`<cache>/models--owner--repo/snapshots/<commit>/<file>.gguf`; newest snapshot wins."""
    root = root or hf_cache_dir()
    found: dict[tuple[str, str], LocalModel] = {}
    if not root.is_dir():
        return []
    for repo_dir in root.glob("models--*"):
        repo_id = repo_dir.name[len("models--") :].replace("--", "/", 1)
        for files in _group(_walk_gguf(repo_dir / "snapshots")):
            model = _model(files, "hf-cache", files[0].name, repo_id)
            if model is None:
                continue
            key = (repo_id, files[0].name)
            if key not in found or model.modified > found[key].modified:
                found[key] = model
    return list(found.values())


def scan_ollama(root: Path | None = None) -> list[LocalModel]:
    """Models named by Ollama manifests whose model layer is a GGUF blob."""
    root = root or ollama_dir()
    manifests = root / "manifests"
    if not manifests.is_dir():
        return []
    found: dict[Path, LocalModel] = {}
    for manifest in manifests.rglob("*"):
        if not manifest.is_file():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            layers = data.get("layers", [])
        except (OSError, ValueError, AttributeError):
            continue
        for layer in layers if isinstance(layers, list) else []:
            if not isinstance(layer, dict) or layer.get("mediaType") != _OLLAMA_MODEL:
                continue
            digest = str(layer.get("digest", ""))
            if not re.fullmatch(r"sha256[:-][0-9a-f]{64}", digest):
                continue
            blob = root / "blobs" / digest.replace(":", "-")
            if blob in found or not _is_gguf(blob):
                continue
            rel = manifest.relative_to(manifests).parts  # host/namespace/model/tag
            tag = rel[-1]
            model_name = rel[-2] if len(rel) >= 2 else "model"
            namespace = rel[-3] if len(rel) >= 3 else ""
            shown = model_name if namespace in ("library", "") else f"{namespace}/{model_name}"
            model = _model([blob], "ollama", f"{shown}:{tag}", None)
            if model is not None:
                found[blob] = model
    return list(found.values())


def scan_library(settings: Settings | None = None, *, other_apps: bool | None = None) -> list[LocalModel]:
    """All models, ours first; the same file reached twice is listed once."""
    settings = settings if settings is not None else load_settings()
    scan_others = settings.scan_other_apps if other_apps is None else other_apps
    from app.core.policy_rules import organisation_models_folder

    shared = organisation_models_folder()
    models = scan_models_dir(shared, "organisation") if shared is not None else []
    models += scan_models_dir(settings.resolved_models_dir(), "enclave")
    for extra in settings.extra_model_dirs:
        models += scan_models_dir(Path(extra).expanduser(), "extra")
    if scan_others:
        models += scan_hf_cache()
        for folder in lmstudio_dirs():
            models += scan_models_dir(folder, "lmstudio")
        for folder in gpt4all_dirs():
            models += scan_models_dir(folder, "gpt4all")
        models += scan_ollama()
    usage = _load_usage()
    models += _remembered(usage, _load_added())
    unique: dict[Path, LocalModel] = {}
    for model in models:
        real = _real(model.path)
        if real in unique:
            continue
        model.last_used = usage.get(str(model.path), model.last_used)
        unique[real] = model
    return list(unique.values())


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def _remembered(usage: dict[str, float], added: list[str]) -> list[LocalModel]:
    """The files the user opened or added, wherever they are (the scan finds most of them
    again: scan_library keeps its own entry for those)."""
    found: list[LocalModel] = []
    for key in dict.fromkeys([*usage, *added]):
        path = Path(key)
        files = _split_parts(path)
        model = _model(files, "opened", path.name, None) if path.is_file() else None
        if model is None:
            model = LocalModel(path, path.name, "opened", 0, 0.0, None, [path], missing=True)
        model.last_used = usage.get(key)
        found.append(model)
    return found


def _split_parts(path: Path) -> list[Path]:
    """All parts of the split set whose first part is path (or just path)."""
    match = _SPLIT.match(path.name)
    if not match or not path.parent.is_dir():
        return [path]
    pattern = f"{glob.escape(match.group('stem'))}-*-of-{match.group('count')}.gguf"
    for files in _group(path.parent.glob(pattern)):
        if files[0] == path:
            return files
    return [path]


# -- what the user opened or added (library.json) ---------------------------------------------
_write_lock = threading.Lock()  # workers read, change and write the file: one at a time


def _usage_path() -> Path:
    return paths.data_dir() / "library.json"


def _load_raw() -> dict[str, object]:
    try:
        raw = json.loads(_usage_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _load_usage() -> dict[str, float]:
    used = _load_raw().get("last_used", {})
    try:
        return {str(k): float(v) for k, v in used.items()} if isinstance(used, dict) else {}
    except (ValueError, TypeError):
        return {}


def _load_added() -> list[str]:
    added = _load_raw().get("added", [])
    return [str(p) for p in added] if isinstance(added, list) else []


def _save(usage: dict[str, float], added: list[str]) -> None:
    atomic_write_text(_usage_path(), json.dumps({"last_used": usage, "added": added}, indent=1))


def mark_used(path: Path, when: float | None = None) -> None:
    """The model at path was opened (now, or at `when`): it is in the Library from now on."""
    with _write_lock:
        usage = _load_usage()
        usage[str(path)] = time.time() if when is None else when
        _save(usage, _load_added())


def add_model_file(path: Path) -> None:
    """Keep a model file in the Library without opening it (Library -> Add a model file)."""
    if not path.is_file():
        raise LibraryError(translate("library", "{file} is not there any more.").format(file=path.name))
    if not _is_gguf(path):
        raise LibraryError(
            translate(
                "library",
                "{file} is not a model file Enclave can use (it must be a GGUF file, "
                "the kind of file Discover downloads).",
            ).format(file=path.name)
        )
    with _write_lock:
        added = _load_added()
        if str(path) not in added:
            _save(_load_usage(), [*added, str(path)])


def forget_model(path: Path) -> None:
    """Take a model the user opened or added off the list; its file is not touched."""
    with _write_lock:
        usage = _load_usage()
        usage.pop(str(path), None)
        _save(usage, [p for p in _load_added() if p != str(path)])


# -- delete ---------------------------------------------------------------------------------
def delete_model(model: LocalModel, settings: Settings | None = None) -> None:
    """Delete one of *our* models (all its parts). Other apps' files are never touched."""
    settings = settings if settings is not None else load_settings()
    root = settings.resolved_models_dir().resolve()
    if not model.deletable:
        label = SOURCE_LABELS.get(model.source)
        where = translate("library", label) if label is not None else model.source
        raise LibraryError(
            translate(
                "library",
                "This model belongs to {source}; Enclave only uses it and will not delete it. "
                "Remove it from {source} instead.",
            ).format(source=where)
        )
    targets = model.parts or [model.path]
    for target in targets:
        real = target.resolve()
        if not real.is_relative_to(root) or real == root:
            raise LibraryError(
                translate(
                    "library", "Refused to delete {file}: it is outside Enclave's models folder."
                ).format(file=target)
            )
    for target in targets:
        try:
            target.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LibraryError(
                translate("library", "Could not delete {file}: {reason}.").format(
                    file=target.name, reason=exc.strerror
                )
            ) from exc
    folder = targets[0].parent
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break
        folder = folder.parent
    forget_model(model.path)
