"""Microsoft Office formats besides Word: PowerPoint (.pptx, python-pptx) and Excel (.xlsx,
openpyxl in read-only mode, which streams the sheet XML instead of building the workbook).

Where a passage is: a slide ("slide 4", its title as the heading, speaker notes included) or a
block of spreadsheet rows ("Sheet1!A1:F40"). Rows read as lines of "column: value" under the
sheet's first row, so a search for a column name and a value finds the row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from app.core.documents.extract import Sink, clean, labelled_row
from app.core.documents.formats.guards import check_zip
from app.core.i18n import number as shown_number
from app.core.i18n import translate

# A block of rows becomes one passage: about one chunk of text, never more than this many rows.
ROWS_PER_BLOCK = 40
CHARS_PER_BLOCK = 900


def extract_pptx(path: Path, sink: Sink) -> None:
    from pptx import Presentation

    check_zip(path, sink.limits, "PowerPoint")
    deck = Presentation(str(path))
    slides = list(deck.slides)
    for number, slide in enumerate(slides[: sink.pages_cap(len(slides), "slides")], 1):
        if sink.out_of_time():
            return
        title_shape = slide.shapes.title
        title = clean(title_shape.text_frame.text) if title_shape is not None else ""
        location = f"slide {number}"
        texts = [t for t in _shape_texts(slide.shapes, skip=title_shape) if t]
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and clean(notes.text):
                texts.append("Notes: " + _lines(notes.text))
        if not texts and title:
            texts = [title]  # a title-only slide is still a place to find
        for text in texts:
            if not sink.add(text, None, title or None, location):
                return
        sink.n_pages = number


def _lines(text: str) -> str:
    return "\n".join(line for line in (clean(ln) for ln in text.splitlines()) if line)


def _shape_texts(shapes: Iterable[Any], skip: Any = None) -> Iterator[str]:
    """Text of every shape in reading order: text boxes, tables (a row a line), groups."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = []
            for row in shape.table.rows:
                cells = [clean(cell.text) for cell in row.cells]
                if any(cells):
                    rows.append(" | ".join(c for c in cells if c))
            yield "\n".join(rows)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield _lines(shape.text_frame.text)


def extract_xlsx(path: Path, sink: Sink) -> None:
    import openpyxl

    check_zip(path, sink.limits, "Excel")
    workbook = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    try:
        rows_left = sink.limits.max_rows
        for sheet in workbook.worksheets:
            rows = enumerate(sheet.iter_rows(min_row=1, values_only=True), 1)
            rows_left = add_sheet_rows(sink, sheet.title, rows, rows_left)
            if rows_left <= 0 or sink.full:
                return
    finally:
        workbook.close()


def add_sheet_rows(sink: Sink, sheet: str, rows: Iterable[tuple[int, Sequence[Any]]], rows_left: int) -> int:
    """(row number, cell values) of one sheet as blocks of lines, each a passage with its cell
    range. Returns how many non-empty rows may still be read in the workbook."""
    header: list[str] | None = None
    block: list[str] = []
    start = end = 0
    width = 0
    size = 0

    def flush() -> bool:
        nonlocal block, size, width
        if not block:
            return True
        location = f"{_sheet_ref(sheet)}!A{start}:{_column(width)}{end}"
        ok = sink.add("\n".join(block), None, None, location)
        block, size, width = [], 0, 0
        return ok

    for seen, (number, row) in enumerate(rows, 1):
        if seen % 1000 == 0 and sink.out_of_time():
            break
        values = [_cell_text(v) for v in row]
        if not any(values):
            continue
        if rows_left <= 0:
            sink.note(
                translate("office", "only the first {rows} spreadsheet rows are searchable").format(
                    rows=shown_number(sink.limits.max_rows)
                )
            )
            break
        rows_left -= 1
        used = max(i for i, v in enumerate(values) if v) + 1
        if header is None:
            header = values
            line = " | ".join(v for v in values if v)
        else:
            line = labelled_row(header, values)
        if not block:
            start = number
        block.append(line)
        end = number
        width = max(width, used)
        size += len(line)
        if (len(block) >= ROWS_PER_BLOCK or size >= CHARS_PER_BLOCK) and not flush():
            return 0
    if not flush():
        return 0
    return rows_left


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return clean(str(value))


def _column(n: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    n = max(n, 1)
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_PLAIN_SHEET = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _sheet_ref(name: str) -> str:
    """As Excel writes it in a formula: Sheet1, 'Q1 2024'."""
    return name if _PLAIN_SHEET.match(name) else "'" + name.replace("'", "''") + "'"
