"""Retrieved chunks -> numbered sources in the prompt -> the citation list under the answer.

    hits = searcher.search(collections, question, k=12).hits
    packed = pack_sources(hits, budget_tokens=sources_budget(n_ctx=4096, other_tokens=...))
    messages = build_messages(question, packed, history)   # OpenAI-style role/content dicts
    answer = <the chat model>(messages)
    for line in citation_lines(packed, answer):            # "[1] report.pdf p. 3"
        ...

Sources are numbered in rank order, so [1] is the best match; a chunk that does not fit the
budget whole is cut at a sentence end if a useful part fits, otherwise left out (and counted in
`dropped`). Token counts are estimates (chunking.estimate_tokens) unless the caller passes the
chat model's own tokenizer as `count_tokens`. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.documents.chunking import estimate_tokens, split_sentences
from app.core.documents.search import Hit

SYSTEM_PROMPT = (
    "You answer questions using the user's documents. Use only the numbered sources below. "
    "After each fact, cite its source number in square brackets, like [1] or [2][3]. "
    "If the sources do not contain the answer, say that you could not find it in the documents."
)

_MIN_PARTIAL_TOKENS = 48  # a shorter cut-down source is more noise than help
_CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True, slots=True)
class Source:
    number: int  # the [n] the model cites
    label: str  # "report.pdf p. 3"
    file: str  # absolute path, for "open the source"
    page: int | None
    heading: str | None
    text: str  # what went into the prompt (possibly cut)
    chunk_id: int
    score: float


@dataclass(frozen=True, slots=True)
class PackedSources:
    sources: list[Source]
    context: str  # the "[1] label\ntext" blocks, ready for the prompt
    tokens: int  # estimated tokens of `context`
    dropped: int  # hits left out for lack of room


def sources_budget(n_ctx: int, other_tokens: int, answer_tokens: int = 512) -> int:
    """Tokens left for sources once the system prompt, history, question (`other_tokens`) and
    room for the answer are set aside."""
    return max(0, n_ctx - other_tokens - answer_tokens - estimate_tokens(SYSTEM_PROMPT) - 16)


def _block(number: int, label: str, text: str) -> str:
    return f"[{number}] {label}\n{text.strip()}\n"


def pack_sources(
    hits: Sequence[Hit],
    budget_tokens: int,
    count_tokens: Callable[[str], int] = estimate_tokens,
    max_sources: int = 10,
) -> PackedSources:
    sources: list[Source] = []
    blocks: list[str] = []
    used = 0
    dropped = 0
    seen: set[int] = set()
    for hit in hits:
        if hit.chunk_id in seen:
            continue
        seen.add(hit.chunk_id)
        if len(sources) >= max_sources:
            dropped += 1
            continue
        number = len(sources) + 1
        label = hit.source_label
        text = hit.text
        cost = count_tokens(_block(number, label, text))
        if used + cost > budget_tokens:
            text = _cut_to_fit(
                text, budget_tokens - used - count_tokens(_block(number, label, "")), count_tokens
            )
            if not text:
                dropped += 1
                continue
            cost = count_tokens(_block(number, label, text))
        block = _block(number, label, text)
        blocks.append(block)
        used += cost
        sources.append(
            Source(number, label, hit.file, hit.page, hit.heading, text, hit.chunk_id, hit.score)
        )
    return PackedSources(sources, "\n".join(blocks), used, dropped)


def _cut_to_fit(text: str, room: int, count_tokens: Callable[[str], int]) -> str:
    room -= count_tokens(" [...]")  # the mark that says the source was cut
    if room < _MIN_PARTIAL_TOKENS:
        return ""
    kept: list[str] = []
    for sentence in split_sentences(text):
        if count_tokens(" ".join([*kept, sentence])) > room:
            break
        kept.append(sentence)
    out = " ".join(kept)
    return out + " [...]" if out and count_tokens(out) >= _MIN_PARTIAL_TOKENS else ""


def build_messages(
    question: str,
    packed: PackedSources,
    history: Sequence[dict[str, str]] = (),
    system_prompt: str = SYSTEM_PROMPT,
) -> list[dict[str, str]]:
    """Chat messages: the instructions and sources as the system message, earlier turns, then
    the question. With no sources the model is told so, and should say it found nothing."""
    sources = packed.context if packed.sources else "(no matching passages were found)"
    system = f"{system_prompt}\n\nSources:\n\n{sources}"
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]


def cited_numbers(answer: str, packed: PackedSources) -> list[int]:
    """Source numbers the answer cites, in order of first citation, ignoring numbers that are
    not sources (a model may write "[2019]")."""
    valid = {s.number for s in packed.sources}
    out: list[int] = []
    for match in _CITATION.finditer(answer):
        n = int(match.group(1))
        if n in valid and n not in out:
            out.append(n)
    return out


def citation_lines(packed: PackedSources, answer: str | None = None) -> list[str]:
    """["[1] report.pdf p. 3", ...]: the sources the answer cites, or all of them when no answer
    is given or it cites none (the user should still see what the answer was based on)."""
    numbers = cited_numbers(answer, packed) if answer else []
    chosen = [s for n in numbers for s in packed.sources if s.number == n] or packed.sources
    return [f"[{s.number}] {s.label}" for s in sorted(chosen, key=lambda s: s.number)]
