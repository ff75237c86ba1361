"""User settings: one typed schema with defaults, saved atomically with owner-only permissions.

`SettingsStore` is the one home of the settings while the app runs: every part of the app reads
`store.current` and changes settings only through `store.update(...)`, which validates, saves
(one place writes the file) and tells observers which names changed (`store.changed`).

A settings file we cannot read (broken JSON, wrong types) is moved aside as
`settings.json.broken-<time>` rather than overwritten, so the user loses nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psygnal import Signal

from app.core import paths

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"


@dataclass
class Settings:
    models_dir: str = ""  # empty: paths.default_models_dir()
    offline_mode: bool = False  # no network call at all while on
    # A Hugging Face token another tool left (HF_TOKEN, the HF folder's token file): asked once
    # in the window. "" not asked yet (not used), "use", or "ignore" (app/core/net/tokens.py).
    other_hf_token: str = ""
    default_context: int = 8192
    n_threads: int = 0  # 0: physical cores
    extra_model_dirs: list[str] = field(default_factory=list)
    scan_other_apps: bool = True  # HF cache, LM Studio, GPT4All, Ollama
    embedding_model: str = ""  # empty: the bundled default
    # Scanned PDF pages and pictures are read with OCR (slow: seconds per page); off skips them.
    read_scanned_pages: bool = True
    theme: str = "system"  # system | light | dark
    # The GPU models load on: -1 lets the planner choose (one GPU that holds the model, else all
    # of them sharing it); an index pins that GPU (hardware.GpuInfo.index).
    gpu: int = -1
    # Speculative decoding with a smaller model of the same family from the Library, when the
    # chat model is wholly on a GPU (draft_pairing.py); off: unmeasured on a GPU, slower on a CPU.
    draft_models: bool = False
    # The window's language: "system" (the OS's, when Enclave ships it) or a code ("de", "fr").
    language: str = "system"
    last_model: str = ""
    # model file path -> llama-cpp-python chat_format name the user forces for it (applied on
    # the next load); absent: the GGUF's own template
    chat_format_overrides: dict[str, str] = field(default_factory=dict)
    # The engine that answers: "local" (this computer) or "server" (a company's
    # OpenAI-compatible server at server_url; its key lives in the OS keyring, never here).
    engine_mode: str = "local"
    server_url: str = ""
    server_model: str = ""
    # Documents embed through the server's /v1/embeddings (True) or the bundled local model.
    server_embeddings: bool = False
    # Enclave serves its model to other programs (OpenAI-compatible API); off by default.
    api_enabled: bool = False
    api_host: str = "127.0.0.1"  # loopback unless the user opens it to the network
    api_port: int = 8642

    def pinned_gpu(self) -> int | None:
        """The GPU models load on, or None for the planner's own choice."""
        return self.gpu if self.gpu >= 0 else None

    def resolved_models_dir(self) -> Path:
        return Path(self.models_dir).expanduser() if self.models_dir else paths.default_models_dir()


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def _from_dict(raw: dict[str, Any]) -> Settings:
    defaults = Settings()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if f.name not in raw:
            continue
        value = raw[f.name]
        expected = type(getattr(defaults, f.name))
        if expected is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"setting {f.name!r} has the wrong type")
        if expected is dict and not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ValueError(f"setting {f.name!r} has the wrong type")
        values[f.name] = value
    return Settings(**values)


def load_settings(path: Path | None = None) -> Settings:
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        return _from_dict(raw)
    except (OSError, ValueError) as exc:
        aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        log.warning("Settings file unreadable (%s); kept aside as %s", exc, aside.name)
        try:
            os.replace(path, aside)
        except OSError:
            log.exception("Could not move the broken settings file aside")
        return Settings()


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same folder, fsync, then os.replace: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise


def save_settings(settings: Settings, path: Path | None = None) -> None:
    atomic_write_text(path or settings_path(), json.dumps(dataclasses.asdict(settings), indent=2))


class SettingsStore:
    """The running app's settings: one owner, observed by the rest.

    `current` is the live Settings object (read it, never assign to it); `update()` is the only
    way to change it. Saving happens here, so no two pages write the file with different ideas
    of what it holds. `changed` carries the set of names whose value changed."""

    changed = Signal(set)

    def __init__(self, path: Path | None = None, settings: Settings | None = None) -> None:
        self.path = path
        self._settings = settings if settings is not None else load_settings(path)

    @property
    def current(self) -> Settings:
        return self._settings

    def update(self, **changes: Any) -> set[str]:
        """Apply, validate and save; returns (and announces) the names whose value changed.

        Raises ValueError for an unknown name or a value of the wrong type (nothing changes
        then); OSError when the file cannot be written (the values stay applied in memory, so
        the app goes on with what the user chose)."""
        names = {f.name for f in dataclasses.fields(Settings)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        candidate = dataclasses.replace(self._settings, **changes)
        _from_dict(dataclasses.asdict(candidate))  # the same type rules as loading a file
        changed = {n for n, v in changes.items() if getattr(self._settings, n) != v}
        if not changed:
            return changed
        for name in changed:
            value = changes[name]
            setattr(self._settings, name, dict(value) if isinstance(value, dict) else value)
        try:
            save_settings(self._settings, self.path)
        finally:
            log.info("settings changed: %s", ", ".join(sorted(changed)))
            self.changed.emit(changed)
        return changed
