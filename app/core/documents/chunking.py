"""Passages -> chunks of about `target_tokens`, cut at paragraph ends (or sentence ends when a
paragraph is too long), with a little overlap so a fact split across a cut is still found whole
in one chunk.

Why these sizes: the bundled embedding model (all-MiniLM-L6-v2) reads 256 tokens, [CLS] and
[SEP] included, and the embedder cuts what is longer, so a longer chunk would have a tail no
vector ever sees. Tokens are therefore counted with the embedding model's own tokenizer
(`model_token_counter`: a vocabulary-only load of the bundled model, cached, tens of
milliseconds once; counting runs at millions of tokens/s): `max_tokens` 254 + 2 special = 256.
Without llama-cpp-python or the model file it falls back to `estimate_tokens` (words and
punctuation), and the embedder's cut is the safety net.

Each chunk keeps its source: file, first and last PDF page, and the heading of its first passage.
A chunk never spans two files, nor two locations (slides, blocks of spreadsheet rows, mail
attachments; see extract.Passage): the location goes in front of the heading ("slide 3: Results").
Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.documents.extract import Passage

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


def model_token_counter(model_path: Path | None = None) -> TokenCounter:
    """Token counts as the embedding model sees them (without its special tokens). The bundled
    model when none is named: the models users pick (MiniLM, bge, e5, nomic) share BERT's
    WordPiece vocabulary, so its counts hold for them too."""
    if model_path is None:
        return _bundled_counter()
    from app.core.documents.local_embedder import count_tokens_for

    try:
        return count_tokens_for(model_path)[0]
    except Exception:
        return _bundled_counter()


@dataclass(frozen=True, slots=True)
class ChunkConfig:
    target_tokens: int = 200  # cut at the next paragraph end after this
    # Never more: cut at a sentence end (or words) before this. 254 + [CLS] + [SEP] = the
    # 256-token window of the embedding model (local_embedder.EMBED_WINDOW).
    max_tokens: int = 254
    min_tokens: int = 60  # a heading change starts a new chunk only past this
    overlap_tokens: int = 40  # tail sentences of one chunk repeated at the start of the next


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
    """A sentence (or a piece of one) with its source and whether it opens a paragraph."""

    text: str
    tokens: int
    page: int | None
    heading: str | None
    para_start: bool
    location: str | None = None  # "slide 3", "Sheet1!A1:F40": never two in one chunk


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


def _units(
    passages: Iterable[Passage], config: ChunkConfig, count: Callable[[str], int]
) -> list[_Unit]:
    units: list[_Unit] = []
    for passage in passages:
        tokens = count(passage.text)
        if tokens <= config.max_tokens:
            units.append(
                _Unit(passage.text, tokens, passage.page, passage.heading, True, passage.location)
            )
            continue
        first = True
        for sentence in split_sentences(passage.text):
            n = count(sentence)
            parts = (
                [sentence] if n <= config.max_tokens else _split_words(sentence, config.max_tokens, count)
            )
            for part in parts:
                units.append(
                    _Unit(part, count(part), passage.page, passage.heading, first, passage.location)
                )
                first = False
    return units


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
    units = _units(passages, config, count_tokens)
    chunks: list[Chunk] = []
    current: list[_Unit] = []
    size = 0
    fresh = 0  # units in `current` that are not overlap from the previous chunk

    def emit() -> None:
        nonlocal current, size, fresh
        if not fresh:
            return
        # The source is where the chunk's own text is, not the overlap repeated from before.
        own = current[len(current) - fresh :]
        pages = [u.page for u in own if u.page is not None]
        text = ""
        for u in current:
            if text:
                text += "\n\n" if u.para_start else " "
            text += u.text
        file = passages[0].file
        chunks.append(
            Chunk(
                text=text,
                file=file,
                page=min(pages) if pages else None,
                page_end=max(pages) if pages else None,
                heading=_place(own[0].location, next((u.heading for u in own if u.heading), None)),
                ordinal=len(chunks),
                n_tokens=size,
            )
        )
        # Overlap: the last sentences, up to overlap_tokens, open the next chunk.
        tail: list[_Unit] = []
        tail_size = 0
        for u in reversed(current):
            if tail_size + u.tokens <= config.overlap_tokens:
                tail.insert(0, u)
                tail_size += u.tokens
                continue
            # A whole paragraph is too long to repeat: take its last sentences instead.
            for sentence in reversed(split_sentences(u.text)):
                n = count_tokens(sentence)
                if tail_size + n > config.overlap_tokens:
                    break
                tail.insert(0, _Unit(sentence, n, u.page, u.heading, False, u.location))
                tail_size += n
            break
        if tail and tail[0] is current[0]:
            tail, tail_size = [], 0  # the whole chunk is small: no point repeating it
        current, size, fresh = tail, tail_size, 0

    for unit in units:
        if current and unit.location != current[-1].location:
            # A new slide, block of rows or attachment: its own chunk, nothing carried over.
            emit()
            current, size, fresh = [], 0, 0
        heading_changed = bool(current) and unit.heading != current[-1].heading
        if current and size + unit.tokens > config.max_tokens:
            emit()
            if size + unit.tokens > config.max_tokens:  # overlap + this unit too big
                current, size = [], 0
        elif (
            fresh
            and unit.para_start
            and (size >= config.target_tokens or (heading_changed and size >= config.min_tokens))
        ):
            emit()
            if heading_changed:
                current, size = [], 0  # overlap from another section would mislead
        current.append(unit)
        size += unit.tokens
        fresh += 1
    emit()
    return chunks


def _place(location: str | None, heading: str | None) -> str | None:
    """What a chunk stores as its heading: the place in the file in front of the section title
    ("slide 3: Results", "Sheet1!A1:F40"), so the citation "deck.pptx - slide 3: Results" says
    where to look in files that have no PDF pages."""
    if location and heading:
        return f"{location}: {heading}"
    return location or heading
