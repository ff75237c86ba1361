"""Text extraction: one file in, a list of `Passage`s out, each remembering where it came from.

A passage is roughly one paragraph (or one table row, one CSV row) with its file, PDF page and
the heading it sits under. The chunker joins and cuts passages; keeping the source on every
passage is what lets an answer say "[1] report.pdf p. 3".

Supported: PDF (pypdfium2), DOCX (python-docx), TXT, Markdown, HTML, CSV. Everything else is
"skipped" with a reason (`skip_reason`). A file that cannot be read (password, corrupt, empty, no
text) raises `ExtractionError` with a plain-words message, so the indexer records it for that file
and goes on with the rest.

Blocking and CPU-bound; call from a worker thread. Never logs document text.
"""

from __future__ import annotations

import csv
import html.parser
import io
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import PlainError

log = logging.getLogger("enclave.documents.extract")

# Suffix -> format name. The indexer lists anything else as skipped.
FORMATS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
}

# A document bigger than this is almost surely not prose (a dump, a log); skip it rather than
# spend an hour embedding it.
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    file: str  # the absolute path, as stored in the index
    page: int | None = None  # 1-based PDF page
    heading: str | None = None


class ExtractionError(PlainError):
    """A file that is supported but cannot be read. `kind` is one of:
    "password", "corrupt", "empty", "unreadable"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def skip_reason(path: Path, size: int | None = None) -> str | None:
    """Why this file is not indexed, or None when it is."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        suffix = path.suffix.lower() or "no extension"
        return f"unsupported format ({suffix})"
    if size is not None and size > MAX_FILE_BYTES:
        return f"too large ({size // (1024 * 1024)} MB; the limit is {MAX_FILE_BYTES >> 20} MB)"
    return None


def extract(path: Path) -> list[Passage]:
    """All passages of one file, in reading order. Raises ExtractionError."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExtractionError("unreadable", skip_reason(path) or "unsupported format")
    try:
        if path.stat().st_size == 0:
            raise ExtractionError("empty", "the file is empty")
    except OSError as exc:
        raise ExtractionError("unreadable", f"cannot read the file ({exc.strerror})") from exc
    try:
        passages = _EXTRACTORS[fmt](path)
    except ExtractionError:
        raise
    except OSError as exc:
        raise ExtractionError("unreadable", f"cannot read the file ({exc.strerror})") from exc
    except Exception as exc:  # third-party parsers raise anything on a broken file
        log.info("extract failed for a %s file: %s", fmt, type(exc).__name__)
        raise ExtractionError("corrupt", f"the {fmt.upper()} file looks damaged") from exc
    passages = [p for p in passages if p.text.strip()]
    if not passages:
        if fmt == "pdf":
            raise ExtractionError("empty", "no text found (a scanned PDF needs OCR first)")
        raise ExtractionError("empty", "no text found")
    return passages


# --- plain text helpers ---------------------------------------------------------------------

_WS = re.compile(r"[ \t\u00a0]+")


def _clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, inner line breaks joined (hyphenation undone)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for block in re.split(r"\n\s*\n", text):
        block = re.sub(r"(\w)-\n(\w)", r"\1\2", block)
        block = _clean(block.replace("\n", " "))
        if block:
            out.append(block)
    return out


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    # utf-8 first (with BOM), then the Windows code page most office exports use; latin-1 never
    # fails, so a weird file still yields searchable text instead of an error.
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # pragma: no cover


# --- per format -----------------------------------------------------------------------------


def _extract_text(path: Path) -> list[Passage]:
    file = str(path)
    return [Passage(p, file) for p in _paragraphs(_read_text(path))]


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")


def _extract_markdown(path: Path) -> list[Passage]:
    file = str(path)
    passages: list[Passage] = []
    heading: str | None = None
    buffer: list[str] = []
    in_fence = False

    def flush() -> None:
        for para in _paragraphs("\n".join(buffer)):
            passages.append(Passage(para, file, None, heading))
        buffer.clear()

    lines = _read_text(path).splitlines()
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            buffer.append("")  # a fence ends a paragraph
            continue
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            flush()
            heading = _clean(match.group(2)) or heading
            continue
        if not in_fence and _MD_SETEXT.match(line) and buffer and buffer[-1].strip():
            # "Title\n=====": the previous line was a heading
            title = buffer.pop()
            flush()
            heading = _clean(title)
            continue
        buffer.append(line)
    flush()
    return passages


class _HTMLText(html.parser.HTMLParser):
    """Block-level text with the current h1-h6 heading; script/style/nav dropped."""

    _BLOCK_TAGS = "p div li td th tr br section article blockquote pre dd dt table ul ol header "
    _BLOCK_TAGS += "footer main aside figure figcaption h1 h2 h3 h4 h5 h6 title"
    BLOCKS = frozenset(_BLOCK_TAGS.split())
    HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str | None]] = []
        self._buf: list[str] = []
        self._hidden = 0
        self._in_heading = False
        self._heading: str | None = None
        self._title: str | None = None
        self._in_title = False

    def _flush(self) -> None:
        text = _clean("".join(self._buf))
        self._buf.clear()
        if not text:
            return
        if self._in_heading:
            self._heading = text
        elif self._in_title:
            self._title = text
        else:
            self.blocks.append((text, self._heading or self._title))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN and tag != "head":
            self._hidden += 1
            return
        if tag in self.BLOCKS:
            self._flush()
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self._in_heading = True
        if tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and tag != "head":
            self._hidden = max(0, self._hidden - 1)
            return
        if tag in self.BLOCKS:
            self._flush()
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self._in_heading = False
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _extract_html(path: Path) -> list[Passage]:
    parser = _HTMLText()
    parser.feed(_read_text(path))
    parser.close()
    file = str(path)
    return [Passage(text, file, None, heading) for text, heading in parser.blocks]


def _extract_csv(path: Path) -> list[Passage]:
    """One passage per row, as "column: value; ..." so a row reads like a sentence and both
    BM25 and the embedder see the column names next to the values."""
    text = _read_text(path)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192])
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        return []
    header = [_clean(h) for h in rows[0]]
    file = str(path)
    heading = path.stem
    passages = []
    for row in rows[1:]:
        cells = [
            f"{header[i] if i < len(header) and header[i] else f'column {i + 1}'}: {_clean(v)}"
            for i, v in enumerate(row)
            if v.strip()
        ]
        if cells:
            passages.append(Passage("; ".join(cells) + ".", file, None, heading))
    if not passages:  # header only: still searchable
        passages.append(Passage(", ".join(header), file, None, heading))
    return passages


def _extract_docx(path: Path) -> list[Passage]:
    import zipfile

    import docx  # python-docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if not zipfile.is_zipfile(path):
        # An encrypted Office file is an OLE container, not a zip: say so instead of "damaged".
        with path.open("rb") as fh:
            if fh.read(8) == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
                raise ExtractionError("password", "the document is password-protected")
        raise ExtractionError("corrupt", "the DOCX file looks damaged")
    document = docx.Document(str(path))
    file = str(path)
    passages: list[Passage] = []
    heading: str | None = None
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = _clean(block.text)
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            if style.startswith("Heading") or style == "Title":
                heading = text
                continue
            passages.append(Passage(text, file, None, heading))
        elif isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = _clean(cell.text)
                    if value and (not cells or cells[-1] != value):  # merged cells repeat
                        cells.append(value)
                if cells:
                    passages.append(Passage(" | ".join(cells), file, None, heading))
    return passages


def _extract_pdf(path: Path) -> list[Passage]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise ExtractionError("password", "the PDF is password-protected") from exc
        if exc.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise ExtractionError("password", "the PDF uses an unsupported protection") from exc
        raise ExtractionError("corrupt", "the PDF file looks damaged") from exc
    file = str(path)
    passages: list[Passage] = []
    try:
        headings = _pdf_outline(pdf)
        heading: str | None = None
        for index in range(len(pdf)):
            heading = headings.get(index, heading)
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    raw = textpage.get_text_range()
                finally:
                    textpage.close()
            finally:
                page.close()
            for para in _pdf_paragraphs(raw):
                passages.append(Passage(para, file, index + 1, heading))
    finally:
        pdf.close()
    return passages


def _pdf_outline(pdf: object) -> dict[int, str]:
    """Page index -> bookmark title: a cheap, reliable heading when the PDF has an outline."""
    out: dict[int, str] = {}
    get_toc: Callable[[], Iterable[object]] | None = getattr(pdf, "get_toc", None)
    if get_toc is None:
        return out
    try:
        for item in get_toc():
            dest = item.get_dest()  # type: ignore[attr-defined]
            index = dest.get_index() if dest is not None else None
            title = _clean(item.get_title() or "")  # type: ignore[attr-defined]
            if index is not None and title and index not in out:
                out[index] = title
    except Exception:  # a broken outline must not cost us the text
        log.debug("ignoring an unreadable PDF outline")
    return out


def _pdf_paragraphs(raw: str) -> list[str]:
    """PDF text comes as lines. Blank lines separate paragraphs; so does a line that ends a
    sentence and is clearly shorter than the text column (the last line of a paragraph)."""
    lines = [ln.rstrip() for ln in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    width = max((len(ln) for ln in lines), default=0)
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            text = " ".join(current)
            text = re.sub(r"(\w)- (\w)", r"\1\2", text)
            paragraphs.append(_clean(text))
            current.clear()

    for line in lines:
        stripped = line.strip()
        if not stripped:
            flush()
            continue
        current.append(stripped)
        if stripped[-1] in ".!?:" and len(stripped) < 0.7 * width:
            flush()
    flush()
    return [p for p in paragraphs if p]


_EXTRACTORS: dict[str, Callable[[Path], list[Passage]]] = {
    "pdf": _extract_pdf,
    "docx": _extract_docx,
    "text": _extract_text,
    "markdown": _extract_markdown,
    "html": _extract_html,
    "csv": _extract_csv,
}
