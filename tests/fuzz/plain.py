"""What counts as a plain sentence for a person at the screen (the fuzzer's verdict on a
message): no traceback, no Python exception names or reprs, short, and a full sentence."""

from __future__ import annotations

import re

_CODE_SMELLS = [
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b"),  # ValueError, struct.error's class name...
    re.compile(r"\bstruct\.error\b|\bnumpy\b|\bnp\.|dtype|\bbuffer\b", re.IGNORECASE),
    re.compile(r"<[a-z_.]+ object at 0x"),
    re.compile(r"File \"[^\"]+\", line \d+"),
    re.compile(r"\bself\.|\bNone\b|__\w+__"),
    re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}"),  # an empty exception message in brackets
]


def why_not_plain(message: str) -> str | None:
    """None when `message` is a plain sentence; otherwise what is wrong with it."""
    text = message.strip()
    if text.startswith("enclave: "):
        text = text[len("enclave: ") :]
    if not text:
        return "empty"
    if len(text) > 400:
        return f"too long ({len(text)} characters)"
    if "\n" in text:
        return "more than one line"
    if not text[0].isupper():
        return "does not start as a sentence"
    if text[-1] not in ".!?":
        return "does not end as a sentence"
    for smell in _CODE_SMELLS:
        found = smell.search(text)
        if found:
            return f"reads like code: {found.group(0)!r}"
    return None
