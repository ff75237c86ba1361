"""The one place that turns what a person typed into an SQLite FTS5 MATCH expression, for the
chat history search (chat/store.py) and the documents' keyword search (documents/search.py).

Only word characters survive and every term is quoted, so FTS5 syntax in the input (quotes,
AND/OR/NOT, NEAR, column filters, `*`, `^`) is searched as text and never raises.

    words('say "hi" OR bye*')                 -> ["say", "hi", "OR", "bye"]
    match_expression(["say", "hi"], "AND", prefix=True) -> '"say"* AND "hi"*'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_TERMS = 32  # a pasted paragraph stays a quick query

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """The words of `text`, as FTS5's unicode61 tokenizer splits them (letters and digits)."""
    return _WORD.findall(text)


def match_expression(terms: Sequence[str], operator: str = "OR", prefix: bool = False) -> str:
    """Terms -> an FTS5 MATCH expression: each quoted, joined by `operator` ("OR": BM25 rewards
    rows matching more of them; "AND": rows with all), each also matching as a word's start
    when `prefix` (for search-as-you-type). "" when there is no term."""
    if operator not in ("OR", "AND"):
        raise ValueError(f"unknown FTS operator {operator!r}")
    star = "*" if prefix else ""
    return f" {operator} ".join(f'"{term}"{star}' for term in terms[:MAX_TERMS])
