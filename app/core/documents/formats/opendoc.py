"""OpenDocument (LibreOffice, OpenOffice): text .odt, spreadsheet .ods, presentation .odp,
read with odfpy.

Places as for the Office formats: headings in a text, "Sheet1!A1:F40" blocks of rows in a
spreadsheet, "slide 3" in a presentation (speaker notes included). Repeated rows and cells (ODF
writes "1,048,576 empty rows" as one element) are counted, never expanded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core.documents.extract import Sink, clean
from app.core.documents.formats.guards import check_zip
from app.core.documents.formats.office import add_sheet_rows

_MAX_REPEAT = 1000  # a cell with text repeated more than this is shown this many times


def _load(path: Path, sink: Sink, name: str) -> Any:
    from odf.opendocument import load

    check_zip(path, sink.limits, name)
    return load(str(path))


def _text(element: Any) -> str:
    from odf import teletype

    return clean(teletype.extractText(element))


def _qname(element: Any) -> tuple[str, str] | None:
    return getattr(element, "qname", None)


def extract_odt(path: Path, sink: Sink) -> None:
    from odf.namespaces import TABLENS, TEXTNS

    doc = _load(path, sink, "OpenDocument text")
    heading: str | None = None

    def walk(element: Any) -> bool:
        nonlocal heading
        for child in element.childNodes:
            qname = _qname(child)
            if qname == (TEXTNS, "h"):
                heading = _text(child) or heading
            elif qname == (TEXTNS, "p"):
                if not sink.add(_text(child), None, heading):
                    return False
            elif qname == (TABLENS, "table-row"):
                cells = [_text(c) for c in child.childNodes if _qname(c) == (TABLENS, "table-cell")]
                if any(cells) and not sink.add(" | ".join(c for c in cells if c), None, heading):
                    return False
            elif qname is not None and not walk(child):
                return False
        return True

    walk(doc.text)


def extract_ods(path: Path, sink: Sink) -> None:
    from odf.table import Table

    doc = _load(path, sink, "OpenDocument spreadsheet")
    rows_left = sink.limits.max_rows
    for table in doc.spreadsheet.getElementsByType(Table):
        name = str(table.getAttribute("name") or "Sheet")
        rows_left = add_sheet_rows(sink, name, _ods_rows(table), rows_left)
        if rows_left <= 0 or sink.full:
            return


def _ods_rows(table: Any) -> Iterator[tuple[int, list[str]]]:
    from odf.namespaces import TABLENS

    number = 0

    def rows(element: Any) -> Iterator[Any]:
        for child in element.childNodes:
            qname = _qname(child)
            if qname == (TABLENS, "table-row"):
                yield child
            elif qname in {(TABLENS, "table-header-rows"), (TABLENS, "table-row-group"),
                           (TABLENS, "table-rows")}:
                yield from rows(child)

    for row in rows(table):
        repeat = int(row.getAttribute("numberrowsrepeated") or 1)
        values: list[str] = []
        empty_run = 0
        for cell in row.childNodes:
            if _qname(cell) not in {(TABLENS, "table-cell"), (TABLENS, "covered-table-cell")}:
                continue
            times = int(cell.getAttribute("numbercolumnsrepeated") or 1)
            text = _text(cell)
            if not text:
                empty_run += times
                continue
            values.extend([""] * min(empty_run, _MAX_REPEAT))
            empty_run = 0
            values.extend([text] * min(times, _MAX_REPEAT))
        if any(values):
            for _ in range(min(repeat, _MAX_REPEAT)):
                number += 1
                yield number, values
            number += max(0, repeat - _MAX_REPEAT)
        else:
            number += repeat


def extract_odp(path: Path, sink: Sink) -> None:
    from odf.draw import Page
    from odf.namespaces import PRESENTATIONNS

    doc = _load(path, sink, "OpenDocument presentation")
    pages = doc.presentation.getElementsByType(Page)
    for number, page in enumerate(pages[: sink.pages_cap(len(pages), "slides")], 1):
        if sink.out_of_time():
            return
        title = ""
        texts: list[str] = []
        notes = ""
        for child in page.childNodes:
            if _qname(child) == (PRESENTATIONNS, "notes"):
                notes = _text(child)
                continue
            text = _lines(child)
            if not text:
                continue
            if not title and child.getAttribute("class") == "title":
                title = clean(text.replace("\n", " "))
            else:
                texts.append(text)
        if notes:
            texts.append("Notes: " + notes)
        if not texts and title:
            texts = [title]
        for text in texts:
            if not sink.add(text, None, title or None, f"slide {number}"):
                return


def _lines(element: Any) -> str:
    """Each paragraph of a frame on its own line."""
    from odf.text import P

    lines = [_text(p) for p in element.getElementsByType(P)]
    return "\n".join(line for line in lines if line)
