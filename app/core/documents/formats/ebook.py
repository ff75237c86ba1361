"""EPUB books (ebooklib): each chapter of the reading order is a place, "chapter 3", its text
read through the same HTML reader as .html files, under the chapter's own headings."""

from __future__ import annotations

from pathlib import Path

from app.core.documents.extract import Sink
from app.core.documents.formats.guards import check_zip
from app.core.documents.formats.html_text import html_blocks


def extract_epub(path: Path, sink: Sink) -> None:
    import ebooklib
    from ebooklib import epub

    check_zip(path, sink.limits, "EPUB")
    book = epub.read_epub(str(path), options={"ignore_ncx": True})
    chapters = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT:
            chapters.append(item)
    number = 0
    for item in chapters[: sink.pages_cap(len(chapters), "chapters")]:
        if sink.out_of_time():
            return
        raw = item.get_content()
        markup = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        blocks = html_blocks(markup[: sink.limits.max_chars])
        if not blocks:
            continue  # a cover image, an empty title page: not a chapter to cite
        number += 1
        for text, heading in blocks:
            if not sink.add(text, None, heading, f"chapter {number}"):
                return
