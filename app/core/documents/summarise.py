""""Summarise this document": the whole file, not three passages of it (map-reduce).

    result = summarise_document(engine, Path("report.pdf"), n_ctx=4096,
                                on_progress=show, cancel=token, on_tokens=stream)
    result.text             # the summary of the whole document
    result.map_calls        # one per part read (every section is in exactly one part)

Why map-reduce: a document is usually longer than the model's context. Its sections (the
extractor's headings; PDF pages when a file has none) are packed, whole and in order, into
parts that fit the context with room for the model's answer; a section longer than a part is cut
at paragraph, then sentence ends. Each part is summarised on its own (map), then the summaries
are summarised together (reduce); when even the summaries do not fit, they are grouped and
reduced again, level by level, until one call holds them all. Only that last call streams to
`on_tokens`: the user sees the final summary being written, and progress before it.

Token counts are estimates (chunking.estimate_tokens) with a safety margin: the chat model's own
tokenizer is in the engine host, and an estimate that is 20 % low must still fit.

Blocking: run inside an engine-queue job (the session does). Cancel is checked between calls
and handed to each engine call, so Stop ends a long map step at once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import Cancelled, CancelToken
from app.core.documents.chunking import estimate_tokens, split_sentences
from app.core.documents.extract import Passage, extract_file
from app.core.engine import protocol as p
from app.core.errors import PlainError
from app.core.i18n import translate

log = logging.getLogger("enclave.documents.summarise")

MAP_PROMPT = (
    "You summarise one part of a longer document for a reader who will not see it. "
    "Write a short paragraph with its main points, keeping names, numbers, dates and decisions. "
    "Do not add anything that is not in the text."
)
REDUCE_PROMPT = (
    "Below are summaries of the parts of one document, in order. Write one summary of the whole "
    "document: start with what it is about, then its main points in order. Keep names, numbers, "
    "dates and decisions. Do not add anything that is not in the summaries."
)
MESSAGE_OVERHEAD = 16  # turn markers, role names, the part's title line
ESTIMATE_MARGIN = 0.8  # estimates may be ~20 % below the chat model's real count
MIN_PART_TOKENS = 128  # below this a context is too small to summarise anything in parts


@dataclass(frozen=True, slots=True)
class Section:
    """Consecutive passages under one heading (or one PDF page when there are no headings)."""

    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Part:
    """What one map call reads: whole sections in order, or a piece of one long section."""

    titles: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class SummaryProgress:
    step: str  # "reading" (map) | "combining" (reduce) | "writing" (the final call)
    done: int
    total: int

    def sentence(self, name: str) -> str:
        """Plain words for the chat's waiting line."""
        if self.step == "reading":
            return translate("summarise", "Reading {file}: part {part} of {parts}…").format(
                file=name, part=self.done + 1, parts=self.total
            )
        if self.step == "combining":
            return translate("summarise", "Combining the summaries of {file} ({part} of {parts})…").format(
                file=name, part=self.done + 1, parts=self.total
            )
        return translate("summarise", "Writing the summary of {file}…").format(file=name)


@dataclass(frozen=True, slots=True)
class SummaryResult:
    text: str
    sections: int
    parts: int
    map_calls: int
    reduce_calls: int
    last_stats: Any  # ClientChatStats of the final call (what the answer shows under it)
    notes: tuple[str, ...] = ()  # what was left out (extraction limits), in plain words


class DocumentTooLong(PlainError):
    """The context is too small to read the document in parts."""


def document_sections(passages: Sequence[Passage]) -> list[Section]:
    """Passages grouped into sections: a new section at every heading (or location) change,
    and at every new PDF page when the file has no headings at all."""
    headed = any(passage.heading for passage in passages)
    sections: list[Section] = []
    key: tuple[Any, ...] | None = None
    texts: list[str] = []
    title = ""
    for passage in passages:
        here = (passage.location, passage.heading) if headed else (passage.location, passage.page)
        if key is not None and here != key and texts:
            sections.append(Section(title, "\n\n".join(texts)))
            texts = []
        if here != key:
            title = _title(passage, headed)
        key = here
        texts.append(passage.text)
    if texts:
        sections.append(Section(title, "\n\n".join(texts)))
    return sections


def _title(passage: Passage, headed: bool) -> str:
    parts = [passage.location or ""]
    if headed and passage.heading:
        parts.append(passage.heading)
    elif passage.page is not None:
        parts.append(f"page {passage.page}")
    return ": ".join(x for x in parts if x)


def plan_parts(
    sections: Sequence[Section],
    budget_tokens: int,
    count: Callable[[str], int] = estimate_tokens,
) -> list[Part]:
    """Sections packed in order into parts of at most `budget_tokens`; every section's text is
    in exactly one part, or cut into consecutive parts when it alone is too long."""
    parts: list[Part] = []
    titles: list[str] = []
    texts: list[str] = []
    size = 0

    def close() -> None:
        nonlocal titles, texts, size
        if texts:
            parts.append(Part(tuple(titles), "\n\n".join(texts)))
        titles, texts, size = [], [], 0

    for section in sections:
        block = _section_block(section.title, section.text)
        n = count(block)
        if n <= budget_tokens:
            if size + n > budget_tokens:
                close()
            titles.append(section.title)
            texts.append(block)
            size += n
            continue
        close()
        # Room for the text once its title line says which piece it is ("Terms (2 of 5)").
        longest_title = _section_block(f"{section.title} (999 of 999)", "")
        pieces = _cut(section.text, budget_tokens - count(longest_title), count)
        for i, piece in enumerate(pieces, 1):
            title = f"{section.title} ({i} of {len(pieces)})" if section.title else f"({i} of {len(pieces)})"
            parts.append(Part((title,), _section_block(title, piece)))
    close()
    return parts


def _section_block(title: str, text: str) -> str:
    return f"## {title}\n{text}" if title else text


def _cut(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Text in pieces of at most `budget` tokens, cut at paragraph ends, then sentence ends,
    then words (a table without full stops)."""
    budget = max(budget, 16)
    units: list[str] = []
    for para in text.split("\n\n"):
        if count(para) <= budget:
            units.append(para)
            continue
        for sentence in split_sentences(para):
            if count(sentence) <= budget:
                units.append(sentence)
                continue
            words = sentence.split()
            step = max(1, len(words) * budget // max(1, count(sentence)))
            units.extend(" ".join(words[i : i + step]) for i in range(0, len(words), step))
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        n = count(unit)
        if current and size + n > budget:
            pieces.append("\n\n".join(current))
            current, size = [], 0
        current.append(unit)
        size += n
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def _room(n_ctx: int, answer_tokens: int, instructions: str) -> int:
    """Tokens of document text one call may carry, by estimate, with the margin."""
    room = n_ctx - answer_tokens - estimate_tokens(instructions) - 2 * MESSAGE_OVERHEAD
    return int(room * ESTIMATE_MARGIN)


def summarise_document(
    engine: Any,
    path: Path,
    n_ctx: int,
    *,
    sampling: p.SamplingParams | None = None,
    on_progress: Callable[[SummaryProgress], None] | None = None,
    on_tokens: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
    summary_tokens: int | None = None,
) -> SummaryResult:
    """Summarise the whole file at `path` with `engine` (anything with the Engine `chat`).
    Raises extract.ExtractionError (unreadable file), DocumentTooLong, Cancelled, EngineError."""
    cancel = cancel or CancelToken()
    extracted = extract_file(path)
    sections = document_sections(extracted.passages)
    # Each call leaves room for its answer: a part's summary is short, the final one longer.
    part_summary = summary_tokens or max(96, min(256, n_ctx // 10))
    final_tokens = max(part_summary, min(640, n_ctx // 4))
    if sampling is not None:  # the conversation's answer length caps the summary too
        final_tokens = max(16, min(final_tokens, sampling.max_tokens))
        part_summary = min(part_summary, final_tokens)
    budget = _room(n_ctx, part_summary, MAP_PROMPT)
    if budget < MIN_PART_TOKENS:
        raise DocumentTooLong(
            translate(
                "summarise", "The model's context ({tokens} tokens) is too small to read a document in parts."
            ).format(tokens=n_ctx)
        )
    parts = plan_parts(sections, budget)
    base = sampling or p.SamplingParams(temperature=0.2)
    name = path.name

    def progress(step: str, done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(SummaryProgress(step, done, total))

    def call(system: str, user: str, max_tokens: int, stream: bool) -> tuple[str, Any]:
        cancel.raise_if_cancelled()
        text, stats = engine.chat(
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            dataclasses.replace(base, max_tokens=max_tokens),
            on_tokens=on_tokens if stream else None,
            stop=cancel,
        )
        if cancel.cancelled:
            raise Cancelled()
        return text.strip(), stats

    # Map: one call per part. A single part is summarised straight into the final answer.
    if len(parts) == 1:
        progress("writing", 0, 1)
        text, stats = call(
            MAP_PROMPT.replace("one part of a longer document", "a document"),
            f"Document: {name}\n\n{parts[0].text}",
            final_tokens,
            stream=True,
        )
        return SummaryResult(text, len(sections), 1, 1, 0, stats, tuple(extracted.notes))
    summaries: list[str] = []
    for i, part in enumerate(parts):
        progress("reading", i, len(parts))
        text, _stats = call(
            MAP_PROMPT,
            f"Document: {name}, part {i + 1} of {len(parts)}\n\n{part.text}",
            part_summary,
            stream=False,
        )
        label = "; ".join(t for t in part.titles if t) or f"Part {i + 1}"
        summaries.append(f"## {label}\n{text or '(nothing to summarise)'}")
    map_calls = len(parts)

    # Reduce, level by level, until the summaries fit one call.
    reduce_calls = 0
    reduce_budget = _room(n_ctx, final_tokens, REDUCE_PROMPT)
    while estimate_tokens("\n\n".join(summaries)) > reduce_budget:
        groups = _group(summaries, _room(n_ctx, part_summary, REDUCE_PROMPT))
        if len(groups) >= len(summaries):  # each summary alone is too long: cannot shrink
            raise DocumentTooLong(
                translate("summarise", "The summaries of this document do not fit the model's context.")
            )
        combined: list[str] = []
        for j, group in enumerate(groups):
            progress("combining", j, len(groups))
            text, _stats = call(
                REDUCE_PROMPT, f"Document: {name}\n\n" + "\n\n".join(group), part_summary, stream=False
            )
            reduce_calls += 1
            combined.append(text)
        summaries = combined
    progress("writing", 0, 1)
    text, stats = call(
        REDUCE_PROMPT, f"Document: {name}\n\n" + "\n\n".join(summaries), final_tokens, stream=True
    )
    reduce_calls += 1
    log.info(
        "summarised a document: %d sections in %d parts, %d map and %d reduce calls",
        len(sections),
        len(parts),
        map_calls,
        reduce_calls,
    )
    return SummaryResult(
        text, len(sections), len(parts), map_calls, reduce_calls, stats, tuple(extracted.notes)
    )


def _group(summaries: Sequence[str], budget: int) -> list[list[str]]:
    groups: list[list[str]] = []
    size = 0
    for summary in summaries:
        n = estimate_tokens(summary)
        if groups and size + n <= budget:
            groups[-1].append(summary)
            size += n
        else:
            groups.append([summary])
            size = n
    return groups
