"""Scanned pages and pictures: read offline with RapidOCR's bundled models, page numbers kept,
progress told, and a switch that turns it off (issue 11, part 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.documents.extract import ExtractionError, Limits, extract_file
from app.core.documents.formats import ocr

pytestmark = pytest.mark.skipif(not ocr.available(), reason="rapidocr / onnxruntime not installed")

PAGE_TEXT = [
    "The invoice number is 4471-B.",
    "Payment is due on 15 March.",
]


def _picture(lines: list[str]) -> object:
    """A white page with black print, as a scanner gives it (no text layer anywhere)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 110 + 60 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    for i, line in enumerate(lines):
        draw.text((40, 40 + 60 * i), line, fill="black", font=font)
    return image


def _scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    images = [_picture(lines) for lines in pages]
    first, rest = images[0], images[1:]
    first.save(path, "PDF", resolution=150, save_all=True, append_images=rest)  # type: ignore[attr-defined]
    return path


def _text_pdf_then_scan(path: Path) -> Path:
    """Page 1 has a real text layer, page 2 is a picture: the page numbers must stay right."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    scan = _scanned_pdf(path.with_name("scan-only.pdf"), [PAGE_TEXT])
    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(612, 792)
    font = raw.FPDFText_LoadStandardFont(pdf.raw, b"Helvetica")
    text = raw.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", 12.0)
    words = "This first page has real text about the holiday policy of the company."
    encoded = (words + "\x00").encode("utf-16-le")
    import ctypes

    buffer = (ctypes.c_ushort * (len(encoded) // 2)).from_buffer_copy(encoded)
    raw.FPDFText_SetText(text, buffer)
    raw.FPDFPageObj_Transform(text, 1, 0, 0, 1, 72, 700)
    raw.FPDFPage_InsertObject(page.raw, text)
    raw.FPDFPage_GenerateContent(page.raw)
    del font
    pdf.import_pages(pdfium.PdfDocument(str(scan)))
    pdf.save(str(path))
    return path


def test_a_scanned_pdf_is_read_with_its_page_numbers_and_told_in_the_progress(tmp_path: Path) -> None:
    pdf = _text_pdf_then_scan(tmp_path / "mixed.pdf")
    heard: list[str] = []
    got = extract_file(pdf, on_status=heard.append)
    text_by_page: dict[int | None, str] = {}
    for p in got.passages:
        text_by_page[p.page] = text_by_page.get(p.page, "") + " " + p.text
    assert "holiday policy" in text_by_page[1]
    assert "4471-B" in text_by_page[2] and "15 March" in text_by_page[2]
    assert heard == ["reading scanned page 2 of 2 with OCR"]  # the text page needs no OCR
    assert any("1 scanned page read with OCR" in n for n in got.notes)


def test_ocr_off_skips_scans_with_a_plain_sentence(tmp_path: Path) -> None:
    pdf = _scanned_pdf(tmp_path / "scan.pdf", [PAGE_TEXT])
    with pytest.raises(ExtractionError) as raised:
        extract_file(pdf, Limits(ocr=False))
    assert "scanned PDF" in raised.value.message and "Settings" in raised.value.message
    picture = tmp_path / "photo.png"
    _picture(PAGE_TEXT).save(picture)  # type: ignore[attr-defined]
    with pytest.raises(ExtractionError) as raised:
        extract_file(picture, Limits(ocr=False))
    assert "turned off" in raised.value.message


def test_a_picture_file_is_indexed_and_found(tmp_path: Path) -> None:
    from app.core.documents.index import DocumentIndex
    from app.core.documents.indexer import IndexProgress, index_collection
    from app.core.documents.search import Searcher

    folder = tmp_path / "scans"
    folder.mkdir()
    _picture(["Parking permits are renewed every January.", *PAGE_TEXT]).save(folder / "note.png")  # type: ignore[attr-defined]
    seen: list[IndexProgress] = []
    with DocumentIndex(tmp_path / "index.db") as index:
        index.create_collection("scans", [folder])
        report = index_collection(index, "scans", None, progress=seen.append)
        assert report.failed == []
        assert any(p.detail and "picture" in p.detail for p in seen)
        hits = Searcher(index).search(["scans"], "parking permits renewed", k=3, mode="bm25").hits
        assert hits and hits[0].file.endswith("note.png")


def test_a_huge_picture_is_refused_before_decoding(tmp_path: Path) -> None:
    from PIL import Image

    big = tmp_path / "huge.png"
    Image.new("1", (10_000, 9_000), 1).save(big)  # 90 megapixels, a few KB on disk
    with pytest.raises(ExtractionError) as raised:
        extract_file(big)
    assert raised.value.kind == "unsafe"


def test_a_page_with_little_text_and_no_picture_keeps_its_text(tmp_path: Path) -> None:
    """Short pages ("Due in 30 days.") are below the scan threshold; with no picture to read
    they are text pages, not scans, and nothing of them is lost."""
    from tests.fixtures.documents.builders import write_pdf

    pdf = write_pdf(tmp_path / "short.pdf", [["Invoice total 1,250 euros."], ["Due in 30 days."]])
    heard: list[str] = []
    got = extract_file(pdf, on_status=heard.append)
    assert [(p.page, p.text) for p in got.passages] == [
        (1, "Invoice total 1,250 euros."),
        (2, "Due in 30 days."),
    ]
    assert heard == [] and got.notes == []
