"""Passages -> chunks by the document's structure: a section (the passages under one heading
path) is one chunk when it fits; a long section is cut at paragraph, list-item or table-row ends
(sentence ends inside a paragraph that is too long alone), with a little overlap so a fact split
across a cut is still found whole; small sections that share a parent heading are put together
(a manual's short option descriptions), each under its own title line.

Every chunk starts with its heading path ("20.4. Resource Consumption › 20.4.1. Memory ›
work_mem (integer)"), so a passage knows its section title: both the embedding and the keyword
index see it, and so does the chat model reading the passage. Why it matters: a paragraph deep in
a section ("Sets the base maximum amount of memory ...") rarely repeats the words of its title,
which are the words a question uses. Measured on PostgreSQL's manual with
tests/benchmarks/bench_retrieval.py (README, "Retrieval on a real manual").

Why these sizes: the bundled embedding model (all-MiniLM-L6-v2) reads 256 tokens, [CLS] and
[SEP] included, and the embedder cuts what is longer, so a longer chunk would have a tail no
vector ever sees. Tokens are therefore counted with the embedding model's own tokenizer
(`model_token_counter`: a vocabulary-only load of the bundled model, cached, tens of
milliseconds once; counting runs at millions of tokens/s): `max_tokens` 254 + 2 special = 256,
title line included. Without llama-cpp-python or the model file it falls back to
`estimate_tokens` (words and punctuation), and the embedder's cut is the safety net.

Another model with its own vocabulary, window and prompt (EmbeddingGemma: 512 Gemma tokens,
"title: none | text: " in front; embedding_models.py) is measured too (`counter_for_model`):
a chunk's count is the larger of MiniLM's and that model's own count scaled to MiniLM's
budget, so it fits both windows. Not needed for most text (English, German, French, Chinese,
Russian chunks cut for MiniLM are 0.3 to 1.0 times as many Gemma tokens), but it is for some:
Thai is one MiniLM [UNK] per word (a 40-sentence chunk was 973 Gemma tokens), a table of
numbers padded with spaces 2.6 times as many, which the runner would cut off. For MiniLM's
tokenizer alone (the models users pick share it) nothing changes.

Each chunk keeps its source: file, first and last PDF page, and its heading path. A chunk never
spans two files, nor two locations (slides, blocks of spreadsheet rows, mail attachments; see
extract.Passage): the location goes in front of the heading ("slide 3: Results").
Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.documents.extract import HEADING_SEP, Passage

log = logging.getLogger("enclave.documents.chunking")

_TOKEN = re.compile(r"\w+|[^\w\s]")
# Sentence end: . ! ? (optionally closed by a quote or bracket) followed by space and a capital,
# digit or opening quote. Abbreviations ("e.g. the") mostly survive because a lowercase follows.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9\u00c0-\u024f])")


def estimate_tokens(text: str) -> int:
    """About the WordPiece/BPE token count for English prose (words + punctuation, long words
    counted as two)."""
    return sum(1 + len(t) // 10 for t in _TOKEN.findall(text))


TokenCounter = Callable[[str], int]


@functools.lru_cache(maxsize=1)
def _bundled_counter() -> TokenCounter:
    from app.core import paths
    from app.core.documents.local_embedder import count_tokens_for

    try:
        count, _budget = count_tokens_for(paths.default_embedding_model())
    except Exception as exc:  # no llama-cpp-python, no model file: estimate instead
        log.info("chunking with estimated token counts (%s)", type(exc).__name__)
        return estimate_tokens
    return count


@functools.lru_cache(maxsize=4)
def counter_for_model(model_path: str | None) -> TokenCounter:
    """The counter to cut chunks with when `model_path` embeds them (module docstring): the
    bundled model's counter, or for a known model with its own window and prompts the larger
    of that and the model's own count in the bundled model's units."""
    base = _bundled_counter()
    if not model_path:
        return base
    from app.core.documents.embedding_models import DOCUMENT, model_for_file
    from app.core.documents.local_embedder import EMBED_WINDOW, count_tokens_for

    model = model_for_file(model_path)
    if model is None or model.builtin:
        return base
    try:
        own, own_budget = count_tokens_for(Path(model_path))
    except Exception as exc:  # the file is not readable: the runner's cut stays the net
        log.info("chunking without the model's own counts (%s)", type(exc).__name__)
        return base
    # count_tokens_for's budget is for the bundled window; this model's is its own, less the
    # special tokens and the prompt in front of every passage.
    specials = EMBED_WINDOW - own_budget
    room = model.window - specials - own(model.prompts.prefix(DOCUMENT))
    unit = ChunkConfig().max_tokens
    if room <= 0:
        return base

    def count(text: str) -> int:
        theirs = own(text)
        return max(base(text), -(-theirs * unit // room))  # ceil: never under

    return count


def model_token_counter(model_path: Path | None = None) -> TokenCounter:
    """Token counts as the embedding model sees them (without its special tokens). The bundled
    model when none is named: many models users pick (MiniLM, bge, English e5, nomic) share
    BERT's WordPiece vocabulary, so its counts hold for them too; others (EmbeddingGemma,
    multilingual e5) are counted by counter_for_model."""
    if model_path is None:
        return _bundled_counter()
    from app.core.documents.local_embedder import count_tokens_for

    try:
        return count_tokens_for(model_path)[0]
    except Exception:
        return _bundled_counter()


@dataclass(frozen=True, slots=True)
class ChunkConfig:
    target_tokens: int = 200  # a long section is cut at the next block end after this
    # Never more: cut at a sentence end (or words) before this. 254 + [CLS] + [SEP] = the
    # 256-token window of the embedding model (local_embedder.EMBED_WINDOW).
    max_tokens: int = 254
    min_tokens: int = 60  # a section smaller than this joins its neighbour under a shared title
    overlap_tokens: int = 40  # tail sentences of one cut repeated at the start of the next
    title_tokens: int = 48  # at most this much of a chunk is its heading path (deepest levels kept)


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    file: str
    page: int | None
    page_end: int | None
    heading: str | None
    ordinal: int  # position within its file
    n_tokens: int


@dataclass(slots=True)
class _Unit:
    """A block (paragraph, list item, table row) or a piece of one, with its source and whether
    it opens a block."""

    text: str
    tokens: int
    page: int | None
    heading: str | None
    para_start: bool
    location: str | None = None  # "slide 3", "Sheet1!A1:F40": never two in one chunk


@dataclass(slots=True)
class _Section:
    """Consecutive units under one heading path in one location."""

    heading: str | None
    location: str | None
    units: list[_Unit]

    @property
    def tokens(self) -> int:
        return sum(u.tokens for u in self.units)

    @property
    def path(self) -> list[str]:
        return self.heading.split(HEADING_SEP) if self.heading else []


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _split_words(text: str, max_tokens: int, count: TokenCounter = estimate_tokens) -> list[str]:
    """Last resort for a "sentence" longer than a chunk (tables, lists without periods). A
    single "word" longer than that (a hash, base64) is cut in slices of `max_tokens`
    characters: no character is more than one token."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for word in text.split():
        n = count(word)
        if n > max_tokens:
            if current:
                pieces.append(" ".join(current))
                current, size = [], 0
            pieces.extend(word[i : i + max_tokens] for i in range(0, len(word), max_tokens))
            continue
        if current and size + n > max_tokens:
            pieces.append(" ".join(current))
            current, size = [], 0
        current.append(word)
        size += n
    if current:
        pieces.append(" ".join(current))
    return pieces


def _units(passages: Iterable[Passage], limit: int, count: Callable[[str], int]) -> list[_Unit]:
    """Passages as units of at most `limit` tokens (a longer one cut at sentences, then words)."""
    units: list[_Unit] = []
    for passage in passages:
        tokens = count(passage.text)
        if tokens <= limit:
            units.append(
                _Unit(passage.text, tokens, passage.page, passage.heading, True, passage.location)
            )
            continue
        first = True
        for sentence in split_sentences(passage.text):
            n = count(sentence)
            parts = [sentence] if n <= limit else _split_words(sentence, limit, count)
            for part in parts:
                units.append(
                    _Unit(part, count(part), passage.page, passage.heading, first, passage.location)
                )
                first = False
    return units


def _sections(units: Sequence[_Unit]) -> list[_Section]:
    sections: list[_Section] = []
    for unit in units:
        last = sections[-1] if sections else None
        if last is not None and last.heading == unit.heading and last.location == unit.location:
            last.units.append(unit)
        else:
            sections.append(_Section(unit.heading, unit.location, [unit]))
    return sections


def _common(paths: Sequence[list[str]]) -> list[str]:
    """The heading levels all paths start with."""
    if not paths:
        return []
    out: list[str] = []
    for level in zip(*paths, strict=False):
        if any(x != level[0] for x in level):
            break
        out.append(level[0])
    return out


class _Chunker:
    def __init__(self, passages: Sequence[Passage], config: ChunkConfig, count: TokenCounter) -> None:
        self.file = passages[0].file if passages else ""
        self.config = config
        self.count = count
        self.chunks: list[Chunk] = []

    def title(self, path: Sequence[str]) -> tuple[str, int]:
        """The heading line of a chunk, at most `title_tokens` (outer levels dropped first)."""
        levels = list(path)
        while levels:
            line = HEADING_SEP.join(levels)
            n = self.count(line)
            if n <= self.config.title_tokens:
                return line, n
            if len(levels) == 1:
                words = _split_words(line, self.config.title_tokens, self.count)
                return words[0], self.count(words[0])
            levels = levels[1:]
        return "", 0

    def emit(self, title: str, blocks: Sequence[tuple[str | None, Sequence[_Unit]]],
             heading: str | None, location: str | None) -> None:
        """One chunk: the title line, then each block's units (a block's own sub-title first,
        when it has one: the sections put together under a shared title)."""
        text = title
        pages: list[int] = []
        for sub, units in blocks:
            if sub:
                text += ("\n\n" if text else "") + sub
            first = True
            for u in units:
                if text:
                    text += "\n" if (first and sub) else "\n\n" if u.para_start else " "
                text += u.text
                first = False
                if u.page is not None:
                    pages.append(u.page)
        self.chunks.append(
            Chunk(
                text=text,
                file=self.file,
                page=min(pages) if pages else None,
                page_end=max(pages) if pages else None,
                heading=_place(location, heading),
                ordinal=len(self.chunks),
                n_tokens=self.count(text),
            )
        )

    def whole(self, group: Sequence[_Section]) -> None:
        """Sections that fit one chunk together, under their shared heading levels."""
        paths = [s.path for s in group]
        shared = _common(paths)
        title, _ = self.title(shared)
        blocks: list[tuple[str | None, Sequence[_Unit]]] = []
        for section, path in zip(group, paths, strict=True):
            sub = HEADING_SEP.join(path[len(shared) :]) or None
            blocks.append((sub, section.units))
        heading = HEADING_SEP.join(shared) or None
        if len(group) == 1:
            heading = group[0].heading
        self.emit(title, blocks, heading, group[0].location)

    def cut(self, section: _Section) -> None:
        """A section too long for one chunk: cut at block ends past `target_tokens`, never past
        `max_tokens`, each piece under the section's title, with overlap between pieces."""
        config = self.config
        title, title_n = self.title(section.path)
        room = config.max_tokens - title_n - 2  # the line break and rounding
        current: list[_Unit] = []
        size = 0
        fresh = 0
        for unit in section.units:
            over = current and size + unit.tokens > room
            at_target = fresh and unit.para_start and size >= config.target_tokens - title_n
            if over or at_target:
                self.emit(title, [(None, current)], section.heading, section.location)
                current, size = self._overlap(current, room - unit.tokens)
                fresh = 0
            current.append(unit)
            size += unit.tokens
            fresh += 1
        if fresh:
            self.emit(title, [(None, current)], section.heading, section.location)

    def _overlap(self, units: Sequence[_Unit], room: int) -> tuple[list[_Unit], int]:
        """The last sentences of a piece, up to overlap_tokens, to open the next one."""
        budget = min(self.config.overlap_tokens, room)
        tail: list[_Unit] = []
        size = 0
        for u in reversed(units):
            if size + u.tokens <= budget:
                tail.insert(0, u)
                size += u.tokens
                continue
            for sentence in reversed(split_sentences(u.text)):
                n = self.count(sentence)
                if size + n > budget:
                    break
                tail.insert(0, _Unit(sentence, n, u.page, u.heading, False, u.location))
                size += n
            break
        if tail and tail[0] is units[0]:
            return [], 0  # the whole piece is small: no point repeating it
        return tail, size


def chunk_passages(
    passages: Sequence[Passage],
    config: ChunkConfig | None = None,
    count_tokens: TokenCounter | None = None,
) -> list[Chunk]:
    """Chunks for the passages of ONE file, in order. Tokens are counted with the embedding
    model's tokenizer unless `count_tokens` says otherwise (see the module docstring)."""
    config = config or ChunkConfig()
    if count_tokens is None:
        count_tokens = model_token_counter()
    if not passages:
        return []
    chunker = _Chunker(passages, config, count_tokens)
    # A unit must fit beside the longest title a chunk can have.
    units = _units(passages, config.max_tokens - config.title_tokens - 2, count_tokens)
    group: list[_Section] = []
    group_size = 0

    def close() -> None:
        nonlocal group, group_size
        if group:
            chunker.whole(group)
        group, group_size = [], 0

    for section in _sections(units):
        title_n = chunker.title(section.path)[1]
        size = title_n + section.tokens
        if size > config.max_tokens:
            close()
            chunker.cut(section)
            continue
        if group:
            shared = _common([s.path for s in group] + [section.path])
            # Neighbours join when one of them is small, they share a location, and the whole
            # still fits under the target; each keeps its own title line below the shared one.
            joinable = (
                (group_size < config.min_tokens or size < config.min_tokens)
                and section.location == group[0].location
                and group_size + size - chunker.title(shared)[1] <= config.target_tokens
            )
            if not joinable:
                close()
        group.append(section)
        group_size += size
    close()
    return chunker.chunks


def _place(location: str | None, heading: str | None) -> str | None:
    """What a chunk stores as its heading: the place in the file in front of the section title
    ("slide 3: Results", "Sheet1!A1:F40"), so the citation "deck.pptx - slide 3: Results" says
    where to look in files that have no PDF pages."""
    if location and heading:
        return f"{location}: {heading}"
    return location or heading
