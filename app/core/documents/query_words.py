"""Which words of a question the keyword search (BM25) leaves out: the language's function words.

    skip = function_words(["wie", "oft", "muss", "ich", "mein", "passwort", "wechseln"])
    # -> {"wie", "muss", "ich", "mein"}: German reads as German

Why: search ORs the question's words, so in a small collection a passage that shares only
"auf" and "pro" with a German question outranks the one about its subject (measured in
tests/e2e/test_multilingual_embedding.py); in a big one every chunk with "the" would be scored
(slow). English function words are always left out (the list below, tuned on PostgreSQL's manual
by tests/benchmarks/bench_retrieval.py). Another language's are left out when the question reads
as that language: at least two of its words are that language's function words, and more than
are English ones. That keeps "man", "war", "hat" (German function words, English nouns) in an
English question.

The other lists come from the `stop-words` package, for the languages whose lists were checked
here and hold function words only (German, Dutch, French). Its Spanish, Italian, Portuguese,
Swedish and Russian lists were not taken: they hold content words ("trabajo", "lavoro",
"caminho") and numbers ("двенадцать"), which a question about work or a twelve-character
password needs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

log = logging.getLogger("enclave.documents.search")

ENGLISH = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves tell please find
    give show list explain describe""".split()  # noqa: SIM905
)
OTHER_LANGUAGES = ("german", "dutch", "french")
MIN_SIGNS = 2  # function words of a language a question needs to read as that language


@functools.cache
def _other_lists() -> dict[str, frozenset[str]]:
    try:
        from stop_words import get_stop_words

        return {lang: frozenset(w.lower() for w in get_stop_words(lang)) for lang in OTHER_LANGUAGES}
    except Exception as exc:  # missing package or lists (a broken bundle): English only, searched
        log.warning("no German, Dutch or French function words (%s): keyword search keeps them", exc)
        return {}


def function_words(words: Iterable[str]) -> frozenset[str]:
    """The function words among `words` (lower-cased) that the keyword search leaves out."""
    distinct = set(words)
    english = ENGLISH & distinct
    skip = set(english)
    for listed in _other_lists().values():
        signs = listed & distinct
        if len(signs) >= MIN_SIGNS and len(signs) > len(english):
            skip |= signs
    return frozenset(skip)
