"""Translation of the words people read, in core and in the window alike.

Every visible sentence goes through `translate(context, text)`. The name and arguments are those
of `QCoreApplication.translate`, so Qt's own `pyside6-lupdate` finds every call (in core and in
the UI) and writes it into `resources/i18n/enclave_<lang>.ts`; `installers/i18n.py` runs it.
Core never imports Qt: the window installs Qt's lookup with `install(...)` at start-up, and
until then (the CLI, tests of core) the English source is returned.

Rules the callers keep (the translator only sees the literal):
- the text is a literal, never an f-string: placeholders are named, `"{count} files"`, and the
  caller fills them with `.format(...)` after translating;
- a count that changes the grammar uses Qt's `%n` with `n=`: `translate(ctx, "%n files", n=3)`.
  The English source is written in the plural; `_english_plural` makes "1 file" of it;
- nothing is translated at import time (the translator is not installed yet): a table of
  texts holds `translate_noop(ctx, text)` and translates each entry where it is shown;
- numbers in sentences go through `number(...)`, so German reads 6.100 where English reads 6,100.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Lookup = Callable[[str, str, "str | None", int], str]
NumberFormat = Callable[[float, int], str]

_lookup: Lookup | None = None
_number_format: NumberFormat | None = None

# "%n files" with n == 1 -> "%n file": the English plural rule for the sources we write
# ("passages", "pages", "documents", "models", "words", "matches").
_PLURAL_NOUN = re.compile(r"%n (\w+?)(es|s)\b")
_ES_PLURAL = re.compile(r"(?:ch|sh|x|ss)$")


def install(lookup: Lookup | None, number_format: NumberFormat | None = None) -> None:
    """Set the lookup the window uses (Qt's translators) and the number format; None resets."""
    global _lookup, _number_format
    _lookup = lookup
    _number_format = number_format


def translate(context: str, text: str, disambiguation: str | None = None, n: int = -1) -> str:
    """`text` in the chosen language; `%n` in it becomes `n` (with the right plural)."""
    if _lookup is not None:
        translated = _lookup(context, text, disambiguation, n)
        # Qt gives back the source (with %n filled in) when the language has no translation
        # of it: then English, with its singular, is the answer.
        if translated != (text.replace("%n", str(n)) if n >= 0 else text):
            return translated
    return _english(text, n)


def translate_noop(context: str, text: str) -> str:
    """Mark `text` for translation without translating it (for tables built at import)."""
    del context
    return text


def number(value: float, decimals: int = 0) -> str:
    """A number as the chosen language writes it: 6,100 / 6.100; 2.5 / 2,5."""
    if _number_format is not None:
        return _number_format(value, decimals)
    return f"{value:,.{decimals}f}"


def _english(text: str, n: int) -> str:
    if n < 0 or "%n" not in text:
        return text
    if n == 1:

        def singular(match: re.Match[str]) -> str:
            stem, ending = match.group(1), match.group(2)
            if ending == "es" and not _ES_PLURAL.search(stem):
                return f"%n {stem}e"  # "%n pages" -> stem "pag" + "es": keep the e
            return f"%n {stem}"

        text = _PLURAL_NOUN.sub(singular, text, count=1)
    return text.replace("%n", number(n))
