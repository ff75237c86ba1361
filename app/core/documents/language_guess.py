"""Is a collection mostly not in English? A cheap guess, to recommend the multilingual
embedding model (embedding_models.MULTILINGUAL) on the Documents page.

    mostly_not_english(index.sample_texts(collection_id, SAMPLE_PASSAGES))

Why this way: the built-in MiniLM was trained on English; a collection in German, French,
Chinese... gets poor search by meaning from it. We only need "English or not", for one
sentence and a button, so no language-detection dependency: English prose is about a third
common function words ("the", "and", "of"...), other languages' prose almost none of these
(the list leaves out words that are common elsewhere too: "in", "a", "die", "was", "will",
"on", "an", "as"). A passage is English when at least ENGLISH_SHARE of its words are in the
list; text in other scripts has no ASCII-letter words to count at all, so it counts as not
English. Passages with too few words (a table of numbers, a title) do not vote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SAMPLE_PASSAGES = 60  # spread over the collection (index.sample_texts)
ENGLISH_SHARE = 0.12  # of a passage's words; English prose is ~0.3, German or French < 0.03
MIN_WORDS = 8  # fewer and a passage does not vote
MOSTLY = 0.5  # more than this share of voting passages not English: "mostly not English"

_STOPWORDS = frozenset(
    " ".join(
        (
            "the and of to is that with for are this be by it from have not which you they or at",
            "can their been has more when there also would what we all these if than into its",
            "were our your who should may about other such only them any each how one most some",
        )
    ).split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def is_english(text: str) -> bool | None:
    """True/False for a passage, None when it has too few words to tell."""
    words = _WORD.findall(text.lower())
    words = [w for w in words if not w.isdigit()]
    if len(words) < MIN_WORDS:
        # Scripts without spaces (Chinese, Japanese) are one "word" per run of characters.
        letters = sum(1 for ch in text if ch.isalpha())
        return False if letters >= 4 * MIN_WORDS and not text.isascii() else None
    common = sum(1 for w in words if w in _STOPWORDS)
    return common / len(words) >= ENGLISH_SHARE


def english_share(texts: Iterable[str]) -> float | None:
    """The share of passages that read as English (None: none could tell)."""
    votes = [v for v in (is_english(t) for t in texts) if v is not None]
    return sum(votes) / len(votes) if votes else None


def mostly_not_english(texts: Iterable[str]) -> bool:
    share = english_share(texts)
    return share is not None and share < 1 - MOSTLY
