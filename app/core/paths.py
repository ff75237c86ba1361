"""Where Enclave keeps things on disk (platformdirs), overridable for tests.

`ENCLAVE_HOME` puts everything (data, config, cache, logs) under one folder: tests and
portable installs use it. Otherwise the OS's standard places are used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Enclave"
APP_AUTHOR = "Enclave"


def _home_override() -> Path | None:
    value = os.environ.get("ENCLAVE_HOME")
    return Path(value).expanduser() if value else None


# Enclave's own folders hold conversations, document text, logs and settings: only their
# owner may look inside (on Windows, where modes mean little, the user profile already is).
OWNER_ONLY_DIR = 0o700
OWNER_ONLY_FILE = 0o600


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=OWNER_ONLY_DIR)
    owner_only(path, OWNER_ONLY_DIR)  # also a folder an older version made with the default mode
    return path


def owner_only(path: Path, mode: int = OWNER_ONLY_FILE) -> None:
    """Take group and other permissions away from `path` (a folder or file Enclave owns)."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, mode)
    except OSError:  # not ours to change (a shared folder set by ENCLAVE_HOME): leave it
        pass


def data_dir() -> Path:
    home = _home_override()
    if home:
        return _ensure(home / "data")
    return _ensure(Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)))


def config_dir() -> Path:
    home = _home_override()
    if home:
        return _ensure(home / "config")
    return _ensure(Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)))


def cache_dir() -> Path:
    home = _home_override()
    if home:
        return _ensure(home / "cache")
    return _ensure(Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)))


def log_dir() -> Path:
    home = _home_override()
    if home:
        return _ensure(home / "logs")
    return _ensure(Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)))


def default_models_dir() -> Path:
    return data_dir() / "models"


def database_path() -> Path:
    return data_dir() / "enclave.db"


def resources_dir() -> Path:
    """The resources/ folder: next to the package in a checkout, inside the bundle when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    checkout = Path(__file__).resolve().parents[2] / "resources"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "enclave" / "resources"


def default_embedding_model() -> Path:
    return resources_dir() / "models" / "all-MiniLM-L6-v2-Q8_0.gguf"
