"""Numbers about models in the words a person uses: words, not tokens; "good", not Q4_K_M.

The technical figure stays one click away (a tooltip, "Details", "Advanced"); these give the
first thing a person reads. A token is about three quarters of an English word, which is the
rule of thumb every model vendor quotes; it is the one conversion used everywhere here.
"""

from __future__ import annotations

import re

from app.core.i18n import number, translate, translate_noop

WORDS_PER_TOKEN = 0.75

# Quantization families as file names spell them -> what they mean for a person choosing one.
_QUALITY_BY_QUANT = [
    (re.compile(r"^i?q1", re.IGNORECASE), translate_noop("plain_words", "lowest")),
    (re.compile(r"^i?q2", re.IGNORECASE), translate_noop("plain_words", "low")),
    (re.compile(r"^i?q3", re.IGNORECASE), translate_noop("plain_words", "fair")),
    (re.compile(r"^i?q4|^mxfp4", re.IGNORECASE), translate_noop("plain_words", "good")),
    (re.compile(r"^i?q5", re.IGNORECASE), translate_noop("plain_words", "very good")),
    (re.compile(r"^i?q6", re.IGNORECASE), translate_noop("plain_words", "excellent")),
    (re.compile(r"^i?q8", re.IGNORECASE), translate_noop("plain_words", "near original")),
    (re.compile(r"^(b?f16|fp16|f32|fp32)$", re.IGNORECASE), translate_noop("plain_words", "original")),
]
_QUANT_IN_NAME = re.compile(
    r"[-_.]((?:i?q\d(?:_[a-z0-9]+)*)|b?f16|fp16|f32|fp32|mxfp4)(?:[-_.]|$)", re.IGNORECASE
)


def words(tokens: float) -> int:
    """About how many words a number of tokens is."""
    return int(tokens * WORDS_PER_TOKEN)


def round_words(tokens: float) -> str:
    """'about 6,100 words' for 8,192 tokens (rounded to hundreds: it is an estimate)."""
    count = words(tokens)
    if count >= 1000:
        count = int(count / 100) * 100
    return translate("plain_words", "about {count} words").format(count=number(count))


def context_words(tokens: int) -> str:
    """'about 6,100 words (8,192 tokens)': a context size, words first."""
    return translate("plain_words", "{words} ({count} tokens)").format(
        words=round_words(tokens), count=number(tokens)
    )


def speed_text(tokens_per_s: float) -> str:
    """'about 31 words a second'."""
    per_second = tokens_per_s * WORDS_PER_TOKEN
    shown = number(per_second, 0) if per_second >= 2 else number(per_second, 1)
    return translate("plain_words", "about {words} words a second").format(words=shown)


def seconds_text(seconds: float) -> str:
    """'0.2 s', '7.9 s', '1 min 5 s'."""
    if seconds < 60:
        shown = number(seconds, 1) if seconds < 10 else number(seconds, 0)
        return translate("plain_words", "{seconds} s").format(seconds=shown)
    minutes, rest = divmod(int(seconds + 0.5), 60)
    return translate("plain_words", "{minutes} min {seconds} s").format(
        minutes=number(minutes), seconds=number(rest)
    )


def quant_in_name(name: str) -> str | None:
    """'Q4_K_M' from 'Qwen2.5-7B-Instruct-Q4_K_M.gguf' (None when the name has no such tag)."""
    stem = name[: -len(".gguf")] if name.lower().endswith(".gguf") else name
    found = _QUANT_IN_NAME.findall(stem)
    return found[-1].upper() if found else None


def quality_of(quant: str | None) -> str:
    """'good' for Q4_K_M, 'near original' for Q8_0; '' when unknown."""
    if not quant:
        return ""
    word = next((word for pattern, word in _QUALITY_BY_QUANT if pattern.search(quant)), "")
    return translate("plain_words", word) if word else ""
