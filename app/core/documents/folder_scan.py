"""What a collection's folders hold, file by file: the regular files to index, and the entries
that are there but cannot be (broken links, link loops, links to folders, pipes, devices,
unreadable files), each with its reason in plain words. No file is opened here."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.i18n import translate

HIDDEN_DIRS = {"__pycache__", "node_modules"}


@dataclass(frozen=True, slots=True)
class Seen:
    """A file as the scan saw it: size and modification time tell an unchanged file."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Bad:
    """A directory entry that is there but cannot be indexed; it gets a row saying why."""

    seen: Seen
    reason: str
    kind: str  # "unreadable" | "skipped"


def scan(roots: Sequence[str]) -> tuple[dict[str, Seen], dict[str, Bad], list[str]]:
    """Every regular file under the roots. Hidden files and folders (".git", "~$x.docx" lock
    files) are left out silently: they are never documents the user meant. Links to folders are
    not followed (a link loop cannot trap the scan); broken links, link loops, pipes and devices
    come back as `Bad` entries with a reason. Returns the files, the bad entries and the roots
    that are missing."""
    found: dict[str, Seen] = {}
    bad: dict[str, Bad] = {}
    missing: list[str] = []

    def add(path: Path) -> None:
        key = str(path)
        try:
            st = path.stat()
        except OSError as exc:
            try:
                link = path.lstat()
            except OSError:
                return  # gone between listing and looking
            if stat.S_ISLNK(link.st_mode):
                reason = (
                    translate("indexer", "the link points to itself (a link loop)")
                    if exc.errno == 40  # ELOOP
                    else translate("indexer", "the link points to a file that is not there")
                )
            else:
                reason = cannot_read(exc)
            bad[key] = Bad(Seen(key, link.st_size, link.st_mtime_ns), reason, "unreadable")
            return
        if not stat.S_ISREG(st.st_mode):
            # A pipe would block the first read forever; a device is endless.
            seen = Seen(key, 0, st.st_mtime_ns)
            bad[key] = Bad(
                seen, translate("indexer", "not a regular file (a pipe, socket or device)"), "skipped"
            )
            return
        found[key] = Seen(key, st.st_size, st.st_mtime_ns)

    def add_link_dir(path: Path) -> None:
        try:
            link = path.lstat()
        except OSError:
            return
        key = str(path)
        reason = translate(
            "indexer", "a link to a folder is not followed (add that folder itself to index it)"
        )
        bad[key] = Bad(Seen(key, 0, link.st_mtime_ns), reason, "skipped")

    for root in roots:
        base = Path(root)
        if base.is_file():
            add(base)
        elif base.is_dir():
            for dirpath, dirnames, filenames in os.walk(base, onerror=None, followlinks=False):
                kept = []
                for d in sorted(dirnames):
                    if d.startswith(".") or d in HIDDEN_DIRS:
                        continue
                    if os.path.islink(os.path.join(dirpath, d)):
                        add_link_dir(Path(dirpath) / d)
                        continue
                    kept.append(d)
                dirnames[:] = kept
                for name in sorted(filenames):
                    if not name.startswith((".", "~$")):
                        add(Path(dirpath) / name)
        elif base.is_symlink() or os.path.lexists(base):
            add(base)
        else:
            missing.append(root)
    return found, bad, missing


def cannot_read(exc: OSError) -> str:
    return translate("indexer", "cannot read ({reason})").format(reason=exc.strerror)
