"""Where a model's bytes live: the staging `.part` files, the final place, and disk space.

Bytes go to `<models>/.downloads/<owner>/<repo>/<file>.part`; only a verified model is moved
(`os.replace`, same volume) to `<models>/<owner>/<repo>/<file>`, so the library never sees half
a model. A repo or file name that would land outside the models folder (`../`, absolute
paths, backslashes) is refused with `UnsafePathError` before any network call.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Sequence
from pathlib import Path

from app.core.downloads.errors import UnsafePathError
from app.core.hub import InvalidNameError, check_repo_id, is_safe_relative

STAGING_DIR = ".downloads"
PART_SUFFIX = ".part"


def safe_model_path(models_dir: Path, repo_id: str, filename: str) -> Path:
    """`<models>/<owner>/<repo>/<filename>`, or UnsafePathError if it would escape `models_dir`."""
    try:
        check_repo_id(repo_id)
    except InvalidNameError as exc:
        raise UnsafePathError(repo_id) from exc
    if not is_safe_relative(filename):
        raise UnsafePathError(filename)
    root = models_dir.resolve()
    target = (root / repo_id / filename).resolve()
    if not target.is_relative_to(root) or target == root:
        raise UnsafePathError(filename)
    return target


def staging_path(models_dir: Path, repo_id: str, filename: str) -> Path:
    safe_model_path(models_dir, repo_id, filename)
    return models_dir.resolve() / STAGING_DIR / repo_id / (filename + PART_SUFFIX)


def free_space(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def discard_partial(models_dir: Path, repo_id: str, filenames: Sequence[str]) -> None:
    """Delete the staged bytes of a cancelled download."""
    for name in filenames:
        staged = staging_path(models_dir, repo_id, name)
        staged.unlink(missing_ok=True)
        staged.with_suffix("").unlink(missing_ok=True)
    prune_empty(models_dir.resolve() / STAGING_DIR)


def prune_empty(root: Path) -> None:
    """Remove the empty folders left under the staging folder (and the folder itself)."""
    if not root.is_dir():
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            folder.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()
