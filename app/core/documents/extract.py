"""Text extraction: one file in, `Passage`s out, each remembering where it came from.

A passage is roughly one paragraph (or one table row, one slide, a block of spreadsheet rows)
with its file and its place in it, which is what lets an answer say "[1] report.pdf p. 3":

    page      a PDF page (1-based); the citation says "p. 3" and a PDF viewer can open there
    location  a place that is not a PDF page: "slide 4", "Sheet1!A1:F40", "chapter 2", or
              for a mail attachment "invoice.pdf p. 2"; the chunker keeps one location per
              chunk and shows it in front of the heading ("mail.eml - invoice.pdf p. 2: Terms")
    heading   the section title the text sits under

Supported: PDF (pypdfium2), Word .docx (python-docx), PowerPoint .pptx (python-pptx), Excel .xlsx
(openpyxl), Outlook .msg (extract-msg) and .eml mail with their attachments, OpenDocument
.odt/.ods/.odp (odfpy), EPUB (ebooklib), RTF (striprtf), TXT, Markdown, HTML, CSV. Everything
else is "skipped" with a reason (`skip_reason`).

Hostile or huge input never costs the rest of a folder: a file that cannot be read (password,
damaged, empty, a zip bomb) raises `ExtractionError` with a plain-words message, and a file that
is too big is read up to `Limits` (characters, pages, seconds) and says so in `Extracted.notes`.
Text files are streamed, never read whole; zip-based formats are refused from their declared
sizes before anything is inflated (formats/guards.py). Each format's reader lives in formats/
(PDF in formats/pdf.py, the HTML parser in formats/html_text.py); this module owns the common
parts: the Sink, the limits, the plain-text helpers and the extractor table.

Blocking and CPU-bound; call from a worker thread. Never logs document text.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from app.core.errors import PlainError
from app.core.i18n import number, translate, translate_noop

log = logging.getLogger("enclave.documents.extract")

# Suffix -> format name. The indexer lists anything else as skipped.
FORMATS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".msg": "msg",
    ".eml": "eml",
    ".odt": "odt",
    ".ods": "ods",
    ".odp": "odp",
    ".epub": "epub",
    ".rtf": "rtf",
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    # Pictures (a photographed or scanned page) are read with OCR (formats/ocr.py).
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
    ".bmp": "image",
    ".webp": "image",
}

# Formats read as a stream of characters: any size is fine, only the first
# `Limits.max_chars` characters are indexed.
STREAMED = frozenset({"text", "markdown", "html", "csv"})

# Formats a parser loads whole: bigger than this is almost surely not prose (a dump, an
# archive of scans); skip it rather than spend an hour and gigabytes on it.
MAX_FILE_BYTES = 200 * 1024 * 1024

# Human names for messages ("the Excel file looks damaged").
_NAMES = {
    "pdf": "PDF",
    "docx": "Word",
    "pptx": "PowerPoint",
    "xlsx": "Excel",
    "msg": translate_noop("extract", "Outlook message"),
    "eml": translate_noop("extract", "e-mail"),
    "odt": translate_noop("extract", "OpenDocument text"),
    "ods": translate_noop("extract", "OpenDocument spreadsheet"),
    "odp": translate_noop("extract", "OpenDocument presentation"),
    "epub": "EPUB",
    "rtf": "RTF",
    "text": translate_noop("extract", "text"),
    "markdown": "Markdown",
    "html": "HTML",
    "csv": "CSV",
    "image": translate_noop("extract", "picture"),
}


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    file: str  # the absolute path, as stored in the index
    page: int | None = None  # 1-based PDF page
    heading: str | None = None
    location: str | None = None  # "slide 4", "Sheet1!A1:F40", "invoice.pdf p. 2"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of one file is read. The defaults keep one file under a few hundred MB of
    memory and a few minutes; tests lower them."""

    max_chars: int = 10_000_000  # about 5,000 pages of prose
    max_pages: int = 5_000  # PDF pages, slides, chapters
    max_seconds: float = 300.0
    max_rows: int = 200_000  # spreadsheet rows, over all sheets
    # Zip-based formats (docx, xlsx, pptx, odt/ods/odp, epub): refused before inflating.
    max_unpacked_bytes: int = 256 * 1024 * 1024
    max_ratio: float = 100.0  # per member bigger than `ratio_floor_bytes`
    ratio_floor_bytes: int = 8 * 1024 * 1024
    max_members: int = 20_000
    max_attachment_depth: int = 3  # a mail in a mail in a mail
    # Scanned PDF pages and pictures are read with OCR (formats/ocr.py); Settings can turn it off.
    ocr: bool = True


DEFAULT_LIMITS = Limits()


@dataclass(slots=True)
class Extracted:
    passages: list[Passage]
    notes: list[str] = field(default_factory=list)  # plain sentences: what was left out, why
    n_pages: int | None = None  # PDF pages (or slides) read


class ExtractionError(PlainError):
    """A file that is supported but cannot be read. `kind` is one of:
    "password", "corrupt", "empty", "unreadable", "unsafe" (a zip bomb)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Sink:
    """Where an extractor puts its passages. Counts characters and time against the limits;
    `add` returns False once the file has given all it may, and the extractor stops there."""

    def __init__(
        self,
        path: Path,
        limits: Limits,
        *,
        deadline: float | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self._on_status = on_status
        self.ocr_pages = 0  # pages (or pictures) whose text came from OCR
        self.file = str(path)
        self.limits = limits
        self.passages: list[Passage] = []
        self.notes: list[str] = []
        self.chars = 0
        self.n_pages: int | None = None
        self.full = False
        self.started = time.monotonic()
        self.deadline = deadline if deadline is not None else self.started + limits.max_seconds

    def status(self, sentence: str) -> None:
        """What the extractor is doing now, for the progress line ("reading page 3 of 12 with
        OCR"); slow steps call it, so a long file never looks stuck."""
        if self._on_status is not None:
            self._on_status(sentence)

    def note(self, sentence: str) -> None:
        if sentence not in self.notes:
            self.notes.append(sentence)

    def out_of_time(self) -> bool:
        if time.monotonic() <= self.deadline:
            return False
        if not self.full:
            self.full = True
            self.note(
                translate(
                    "extract",
                    "reading stopped after {seconds} seconds; only the part read by then is searchable",
                ).format(seconds=format(self.limits.max_seconds, "g"))
            )
        return True

    def add(
        self,
        text: str,
        page: int | None = None,
        heading: str | None = None,
        location: str | None = None,
    ) -> bool:
        if self.full or self.out_of_time():
            return False
        text = text.strip()
        if not text:
            return True
        room = self.limits.max_chars - self.chars
        if len(text) > room:
            text = text[:room]
            self.full = True
            self.note(characters_note(self.limits.max_chars))
        if text:
            self.passages.append(Passage(text, self.file, page, heading, location))
            self.chars += len(text)
        return not self.full

    def pages_cap(self, total: int, what: str = "pages") -> int:
        """How many of `total` pages (slides, chapters) to read, with a note when not all.
        `what`: "pages", "slides" or "chapters"."""
        cap = self.limits.max_pages
        if total > cap:
            sentence = _CAP_NOTES.get(what, _CAP_NOTES["pages"])
            self.note(translate("extract", sentence).format(shown=number(cap), total=number(total)))
            return cap
        return total


# The note when a file has more pages (slides, chapters) than are read; shown as
# translate("extract", ...).
_CAP_NOTES = {
    "pages": translate_noop("extract", "only the first {shown} of {total} pages are searchable"),
    "slides": translate_noop("extract", "only the first {shown} of {total} slides are searchable"),
    "chapters": translate_noop("extract", "only the first {shown} of {total} chapters are searchable"),
}


def characters_note(max_chars: int) -> str:
    """The note when only the first `max_chars` characters of a file are read."""
    return translate(
        "extract", "only the first {count} characters are searchable (the file is longer)"
    ).format(count=number(max_chars))


def damaged(name: str) -> str:
    """'the Word file looks damaged' (`name`: the format's name as _NAMES gives it, translated)."""
    return translate("extract", "the {format} file looks damaged").format(format=name)


def format_name(fmt: str) -> str:
    """A format's name as a person reads it: 'Word', 'OpenDocument text'."""
    name = _NAMES.get(fmt)
    return translate("extract", name) if name is not None else fmt.upper()


def format_of(path: Path) -> str | None:
    return FORMATS.get(path.suffix.lower())


def skip_reason(path: Path, size: int | None = None) -> str | None:
    """Why this file is not indexed, or None when it is."""
    fmt = format_of(path)
    if fmt is None:
        suffix = path.suffix.lower() or translate("extract", "no extension")
        return translate("extract", "unsupported format ({extension})").format(extension=suffix)
    if size is not None and fmt not in STREAMED and size > MAX_FILE_BYTES:
        return translate("extract", "too large ({size} MB; the limit is {limit} MB)").format(
            size=size // (1024 * 1024), limit=MAX_FILE_BYTES >> 20
        )
    return None


def extract(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[Passage]:
    """All passages of one file, in reading order. Raises ExtractionError."""
    return extract_file(path, limits).passages


def extract_file(
    path: Path,
    limits: Limits = DEFAULT_LIMITS,
    *,
    depth: int = 0,
    deadline: float | None = None,
    fmt: str | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Extracted:
    """Passages and notes of one file. Raises ExtractionError. `depth` and `deadline` are for
    mail attachments, which are read through here with their parent's clock; `on_status` hears
    what a slow step is doing (OCR of a scanned page)."""
    fmt = fmt or format_of(path)
    if fmt is None:
        raise ExtractionError("unreadable", skip_reason(path) or translate("extract", "unsupported format"))
    name = format_name(fmt)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ExtractionError("unreadable", _cannot_read(exc)) from exc
    if size == 0:
        raise ExtractionError("empty", translate("extract", "the file is empty"))
    sink = Sink(path, limits, deadline=deadline, on_status=on_status)
    try:
        _extractors()[fmt](path, sink, depth)
    except ExtractionError:
        raise
    except MemoryError as exc:
        raise ExtractionError(
            "unsafe",
            translate("extract", "the {format} file needs too much memory to read").format(format=name),
        ) from exc
    except RecursionError as exc:
        raise ExtractionError(
            "corrupt",
            translate("extract", "the {format} file is nested too deeply to read").format(format=name),
        ) from exc
    except OSError as exc:
        raise ExtractionError("unreadable", _cannot_read(exc)) from exc
    except Exception as exc:  # third-party parsers raise anything on a broken file
        log.info("extract failed for a %s file: %s", fmt, type(exc).__name__)
        raise ExtractionError("corrupt", damaged(name)) from exc
    if not sink.passages:
        if fmt == "pdf" and not limits.ocr:
            raise ExtractionError(
                "empty",
                translate(
                    "extract", "no text found (a scanned PDF: turn on reading scanned pages in Settings)"
                ),
            )
        if sink.ocr_pages:
            raise ExtractionError(
                "empty", translate("extract", "no readable text found, not even in the scanned pages")
            )
        raise ExtractionError("empty", translate("extract", "no text found"))
    if sink.ocr_pages == 1:
        sink.note(translate("extract", "1 scanned page read with OCR (text recognition can misread words)"))
    elif sink.ocr_pages:
        sink.note(
            translate(
                "extract",
                "%n scanned pages read with OCR (text recognition can misread words)",
                None,
                sink.ocr_pages,
            )
        )
    return Extracted(sink.passages, sink.notes, sink.n_pages)


def _cannot_read(exc: OSError) -> str:
    why = exc.strerror or translate("extract", "it could not be opened")
    return translate("extract", "cannot read the file ({reason})").format(reason=why)


def _extractors() -> dict[str, Callable[[Path, Sink, int], None]]:
    """Format -> extractor. The per-format modules import their libraries lazily, and import
    this module, so they are looked up here rather than at import time."""
    from app.core.documents.formats import ebook, mail, ocr, office, opendoc, pdf, rtf

    return {
        "pdf": lambda p, s, d: pdf.extract_pdf(p, s),
        "docx": lambda p, s, d: _extract_docx(p, s),
        "pptx": lambda p, s, d: office.extract_pptx(p, s),
        "xlsx": lambda p, s, d: office.extract_xlsx(p, s),
        "msg": mail.extract_msg_file,
        "eml": mail.extract_eml,
        "odt": lambda p, s, d: opendoc.extract_odt(p, s),
        "ods": lambda p, s, d: opendoc.extract_ods(p, s),
        "odp": lambda p, s, d: opendoc.extract_odp(p, s),
        "epub": lambda p, s, d: ebook.extract_epub(p, s),
        "rtf": lambda p, s, d: rtf.extract_rtf(p, s),
        "text": lambda p, s, d: _extract_text(p, s),
        "markdown": lambda p, s, d: _extract_markdown(p, s),
        "html": lambda p, s, d: _extract_html(p, s),
        "csv": lambda p, s, d: _extract_csv(p, s),
        "image": lambda p, s, d: ocr.extract_image(p, s),
    }


# --- plain text helpers ---------------------------------------------------------------------

_WS = re.compile(r"[ \t\u00a0]+")


def clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


_clean = clean


# Joins the levels of a heading path: "20.4. Resource Consumption › 20.4.1. Memory". The chunker
# splits on it (chunking.HEADING_SEP) to find sections that belong together.
HEADING_SEP = " › "
_MAX_HEADING_DEPTH = 4  # deeper paths keep their last levels: the nearest titles say the most


def heading_path(titles: Iterable[str]) -> str | None:
    parts = [t for t in titles if t]
    return HEADING_SEP.join(parts[-_MAX_HEADING_DEPTH:]) or None


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, inner line breaks joined (hyphenation undone)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for block in re.split(r"\n\s*\n", text):
        block = re.sub(r"(\w)-\n(\w)", r"\1\2", block)
        block = _clean(block.replace("\n", " "))
        if block:
            out.append(block)
    return out


_paragraphs = paragraphs


def _read_text(path: Path, sink: Sink) -> str:
    """At most `max_chars` characters of a text file, streamed (a 1 GB one-line log costs a
    few MB), with a note when there was more."""
    from app.core.documents.formats.guards import read_text_capped

    text, truncated = read_text_capped(path, sink.limits.max_chars)
    if truncated:
        sink.note(characters_note(sink.limits.max_chars))
    return text


# --- per format -----------------------------------------------------------------------------


def _extract_text(path: Path, sink: Sink) -> None:
    for para in _paragraphs(_read_text(path, sink)):
        if not sink.add(para):
            return


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")


def _extract_markdown(path: Path, sink: Sink) -> None:
    levels: list[tuple[int, str]] = []  # the heading path: (level, title), outermost first
    buffer: list[str] = []
    in_fence = False

    def flush() -> None:
        heading = heading_path(t for _, t in levels)
        for para in _paragraphs("\n".join(buffer)):
            sink.add(para, None, heading)
        buffer.clear()

    def enter(level: int, title: str) -> None:
        nonlocal levels
        if title:
            levels = [(lv, t) for lv, t in levels if lv < level] + [(level, title)]

    lines = _read_text(path, sink).splitlines()
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            buffer.append("")  # a fence ends a paragraph
            continue
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            flush()
            enter(len(match.group(1)), _clean(match.group(2)))
            continue
        setext = None if in_fence else _MD_SETEXT.match(line)
        if setext and buffer and buffer[-1].strip():
            # "Title\n=====" (level 1) or "Title\n-----" (level 2): the previous line was a heading
            title = buffer.pop()
            flush()
            enter(1 if setext.group(1).startswith("=") else 2, _clean(title))
            continue
        buffer.append(line)
    flush()


def _extract_html(path: Path, sink: Sink) -> None:
    from app.core.documents.formats.html_text import html_blocks

    for text, heading in html_blocks(_read_text(path, sink)):
        if not sink.add(text, None, heading):
            return


def _extract_csv(path: Path, sink: Sink) -> None:
    """One passage per row, as "column: value; ..." so a row reads like a sentence and both
    BM25 and the embedder see the column names next to the values."""
    import csv
    import io

    text = _read_text(path, sink)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192])
    except csv.Error:
        dialect = csv.excel
    header: list[str] | None = None
    heading = path.stem
    added = False
    for row in csv.reader(io.StringIO(text), dialect):
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [_clean(h) for h in row]
            continue
        line = labelled_row(header, row)
        if line:
            added = True
            if not sink.add(line, None, heading):
                return
    if header and not added:  # header only: still searchable
        sink.add(", ".join(header), None, heading)


def labelled_row(header: list[str], row: Iterable[object]) -> str:
    """ "Name: Alice; Days: 25." for a table row under its header row."""
    cells = []
    for i, value in enumerate(row):
        text = _clean(str(value)) if value is not None else ""
        if not text:
            continue
        label = header[i] if i < len(header) and header[i] else f"column {i + 1}"
        cells.append(f"{label}: {text}")
    return "; ".join(cells) + "." if cells else ""


def _extract_docx(path: Path, sink: Sink) -> None:
    import docx  # python-docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    from app.core.documents.formats.guards import check_zip

    check_zip(path, sink.limits, "Word")
    document = docx.Document(str(path))
    levels: list[tuple[int, str]] = []  # the heading path: (level, title), outermost first
    heading: str | None = None
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = _clean(block.text)
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            if style.startswith("Heading") or style == "Title":
                digits = style[len("Heading") :].strip()
                level = 0 if style == "Title" else int(digits) if digits.isdigit() else 1
                levels = [(lv, t) for lv, t in levels if lv < level] + [(level, text)]
                heading = heading_path(t for _, t in levels)
                continue
            if not sink.add(text, None, heading):
                return
        elif isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = _clean(cell.text)
                    if value and (not cells or cells[-1] != value):  # merged cells repeat
                        cells.append(value)
                if cells and not sink.add(" | ".join(cells), None, heading):
                    return
