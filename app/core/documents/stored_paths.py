"""How the documents index stores file paths: as text, or as raw bytes for a name that is not
valid UTF-8, and how such a path is shown."""

from __future__ import annotations

import os


def db_path(path: str) -> str | bytes:
    """A path as stored: its text, or, for a name that is not valid UTF-8 (a file copied from an
    old Windows or Mac volume: Python hands it over with surrogate escapes, which SQLite cannot
    store as text), its raw bytes as a BLOB. `os.fsdecode` of what is read back is the same
    path, so such files are found and updated like any other."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def path_from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def display_path(path: str | bytes) -> str:
    """The path as it may be shown or sent on: bytes that are not UTF-8 become the replacement
    character (U+FFFD), so a label, a log line or a prompt never fails to encode."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "replace")
