"""PDF through pypdfium2: text page by page (the page number is each passage's location), the
outline's titles as headings, and OCR for pages that carry no text (scans), when allowed."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from app.core.documents.extract import ExtractionError, Sink, clean, damaged
from app.core.i18n import translate

log = logging.getLogger("enclave.documents.extract")


def extract_pdf(path: Path, sink: Sink) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    from app.core.documents.formats import ocr

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise ExtractionError("password", translate("extract", "the PDF is password-protected")) from exc
        if exc.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise ExtractionError(
                "password", translate("extract", "the PDF uses an unsupported protection")
            ) from exc
        raise ExtractionError("corrupt", damaged("PDF")) from exc
    try:
        n_pages = sink.pages_cap(len(pdf))
        headings = _pdf_outline(pdf)
        heading: str | None = None
        for index in range(n_pages):
            if sink.out_of_time():
                break
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
            sink.n_pages = index + 1
            if len(raw.strip()) < ocr.SCANNED_PAGE_MAX_CHARS and sink.limits.ocr:
                read = _ocr_pdf_page(pdf, index, n_pages, sink, heading)
                if read is False:
                    break
                if read is True:
                    continue
                # None: no picture on the page; its little text is all there is.
            full = False
            for para in _pdf_paragraphs(raw):
                if not sink.add(para, index + 1, heading):
                    full = True
                    break
            if full:
                break
    finally:
        pdf.close()


def _ocr_pdf_page(pdf: Any, index: int, n_pages: int, sink: Sink, heading: str | None) -> bool | None:
    """A page with (almost) no text layer: if it carries a picture, render it and read the
    picture with OCR. None when there is no picture (a blank or nearly empty page, read as
    text), False once the sink is full."""
    import pypdfium2.raw as pdfium_c

    from app.core.documents.formats import ocr

    page = pdf[index]
    try:
        has_picture = next(iter(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])), None)
        if has_picture is None:
            return None
        sink.status(
            translate("extract", "reading scanned page {page} of {pages} with OCR").format(
                page=index + 1, pages=n_pages
            )
        )
        bitmap = page.render(scale=ocr.RENDER_DPI / 72)
        try:
            image = bitmap.to_pil()
        finally:
            bitmap.close()
    finally:
        page.close()
    sink.ocr_pages += 1
    return ocr.ocr_into(sink, image, index + 1, heading)


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
            title = clean(item.get_title() or "")  # type: ignore[attr-defined]
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
            paragraphs.append(clean(text))
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
