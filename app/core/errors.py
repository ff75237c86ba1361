"""The one base class for failures Enclave expects and explains.

A `PlainError`'s message is written for the person in front of the screen (no internet, a
gated model, a corrupt file, a full disk) and is shown as is. It is not a bug: the UI logs it
as one line, without a traceback, so that the log keeps tracebacks for what really went wrong.
"""

from __future__ import annotations


class PlainError(Exception):
    """An expected failure whose message is meant for the user as is."""
