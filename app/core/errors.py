"""The one base class for failures Enclave expects and explains.

A `PlainError`'s message is written for the person in front of the screen (no internet, a
gated model, a corrupt file, a full disk) and is shown as is. It is not a bug: the UI logs it
as one line, without a traceback, so that the log keeps tracebacks for what really went wrong.
"""

from __future__ import annotations


class PlainError(Exception):
    """An expected failure whose message is meant for the user as is."""


class DiskFullError(PlainError):
    """The disk (or the user's quota) is full: what was written before stays; the sentence says
    what could not be saved and what to do."""


def is_disk_full(exc: BaseException) -> bool:
    """True for "no space left" from the OS (ENOSPC, EDQUOT) or from SQLite (SQLITE_FULL),
    also when it is the cause of another error."""
    import errno
    import sqlite3

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(current, sqlite3.Error) and (
            getattr(current, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            or "database or disk is full" in str(current)
        ):
            return True
        current = current.__cause__ or current.__context__
    return False
