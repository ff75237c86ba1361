"""Extraction from real files: PDF pages and outline headings, DOCX headings and tables, the
plain formats, and the per-file errors (password, corrupt, empty)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.core.documents.chunking import ChunkConfig, chunk_passages, estimate_tokens
from app.core.documents.extract import ExtractionError, Passage, extract, skip_reason
from tests.fixtures.documents.builders import (
    ENCRYPTED_PDF,
    write_corrupt_pdf,
    write_docx,
    write_pdf,
)


def test_pdf_keeps_pages_and_outline_headings(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "report.pdf",
        [
            ["Revenue grew to 4.2 million euros in 2023.", "The Nordic region led growth."],
            ["Employees receive 27 vacation days per year."],
        ],
        outline=[("Finance", 0), ("People", 1)],
    )
    passages = extract(pdf)
    assert {(p.page, p.heading) for p in passages} == {(1, "Finance"), (2, "People")}
    assert "The Nordic region led growth." in passages[0].text + " " + passages[1].text
    assert passages[-1].text == "Employees receive 27 vacation days per year."
    assert passages[-1].page == 2
    assert passages[0].file == str(pdf)


def test_docx_headings_and_tables(tmp_path: Path) -> None:
    docx = write_docx(
        tmp_path / "handbook.docx",
        [("Expenses", ["Submit receipts within 30 days."]), ("Leave", ["25 days a year."])],
        table=[["Name", "Days"], ["Alice", "25"]],
    )
    passages = extract(docx)
    assert passages[0] == Passage("Submit receipts within 30 days.", str(docx), None, "Expenses")
    assert passages[1].heading == "Leave"
    assert passages[-1].text == "Alice | 25"


def test_plain_formats(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text("# Parking\n\nOpens at 6am.\n\n## Badges\n\nLost badges\ncost 15 euros.\n")
    assert [(p.text, p.heading) for p in extract(md)] == [
        ("Opens at 6am.", "Parking"),
        ("Lost badges cost 15 euros.", "Parking › Badges"),  # the heading path
    ]
    html = tmp_path / "page.html"
    html.write_text(
        "<html><head><title>T</title><style>p{}</style></head><body><h2>Canteen</h2>"
        "<p>Lunch &amp; dinner.</p><script>alert(1)</script></body></html>"
    )
    assert [(p.text, p.heading) for p in extract(html)] == [("Lunch & dinner.", "Canteen")]
    csv = tmp_path / "staff.csv"
    csv.write_text("name,office\nAnna,Berlin\nJonas,Vienna\n")
    assert extract(csv)[1].text == "name: Jonas; office: Vienna."
    txt = tmp_path / "latin.txt"
    txt.write_bytes("Caf\xe9 opens at 8.\n\nSecond paragraph.".encode("cp1252"))
    assert [p.text for p in extract(txt)] == ["Café opens at 8.", "Second paragraph."]


def test_unreadable_files_raise_per_file_errors(tmp_path: Path) -> None:
    secret = tmp_path / "secret.pdf"
    shutil.copy(ENCRYPTED_PDF, secret)
    with pytest.raises(ExtractionError) as info:
        extract(secret)
    assert info.value.kind == "password"

    with pytest.raises(ExtractionError) as info:
        extract(write_corrupt_pdf(tmp_path / "broken.pdf"))
    assert info.value.kind == "corrupt"

    broken_docx = tmp_path / "broken.docx"
    broken_docx.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ExtractionError) as info:
        extract(broken_docx)
    assert info.value.kind == "corrupt"

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ExtractionError) as info:
        extract(empty)
    assert info.value.kind == "empty"

    blank_pdf = write_pdf(tmp_path / "blank.pdf", [[]])  # no text and no picture to read
    with pytest.raises(ExtractionError, match="no text found"):
        extract(blank_pdf)


def test_skip_reason() -> None:
    assert skip_reason(Path("a.PDF")) is None
    assert skip_reason(Path("photo.png")) is None  # read with OCR (formats/ocr.py)
    assert skip_reason(Path("clip.mp4")) == "unsupported format (.mp4)"
    assert skip_reason(Path("Makefile")) == "unsupported format (no extension)"
    assert "too large" in (skip_reason(Path("x.pdf"), size=10**9) or "")
    assert skip_reason(Path("x.txt"), size=10**9) is None  # streamed, read up to a limit


def _para(n_sentences: int, seed: str) -> str:
    return " ".join(
        f"Sentence {i} about {seed} explains one more detail of the policy."
        for i in range(n_sentences)
    )


def test_chunks_are_sized_cut_at_boundaries_and_overlap() -> None:
    passages = [
        Passage(_para(6, f"topic{k}"), "/d/a.pdf", page=k // 3 + 1, heading="H") for k in range(12)
    ]
    config = ChunkConfig()
    chunks = chunk_passages(passages, config)
    assert len(chunks) >= 3
    for chunk in chunks:
        assert chunk.n_tokens <= config.max_tokens
        assert chunk.text.endswith(".")  # cut at a sentence/paragraph end
        assert chunk.file == "/d/a.pdf"
    assert all(c.n_tokens >= 150 for c in chunks[:-1])
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    # overlap: the next chunk starts with the last sentence of the previous one
    last_sentence = chunks[0].text.rsplit(". ", 1)[-1]
    assert last_sentence in chunks[1].text[:300]
    assert chunks[1].n_tokens <= config.max_tokens
    # pages are tracked across a chunk
    assert chunks[0].page == 1
    assert chunks[-1].page_end == 4


def test_a_huge_paragraph_is_cut_at_sentences_and_words() -> None:
    long_paragraph = _para(80, "x")
    no_periods = "word " * 2000
    chunks = chunk_passages(
        [Passage(long_paragraph, "/d/a.txt"), Passage(no_periods, "/d/a.txt")], ChunkConfig()
    )
    assert all(estimate_tokens(c.text) <= ChunkConfig().max_tokens + 5 for c in chunks)
    assert "".join(c.text for c in chunks).count("word") >= 2000
