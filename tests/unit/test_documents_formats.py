"""The office, mail, OpenDocument, EPUB and RTF formats, from real files written in the test
with the same libraries that read them (python-pptx, openpyxl, odfpy, ebooklib, the email
package; a .msg through extract-msg's OLE writer), and where their passages say they are: the
label under an answer must point the user to the right slide, cell range or attachment."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

from app.core.documents.chunking import chunk_passages, estimate_tokens
from app.core.documents.extract import extract, extract_file
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import index_collection
from app.core.documents.search import Searcher, source_label
from tests.fixtures.documents.builders import write_docx, write_pdf
from tests.fixtures.documents.msg_builder import write_msg


def _labels(path: Path) -> list[str]:
    chunks = chunk_passages(extract(path), count_tokens=estimate_tokens)
    return [source_label(c.file, c.page, c.page_end, c.heading) for c in chunks]


def write_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly results"
    slide.placeholders[1].text = "Revenue grew 12 percent\nCosts fell"
    slide.notes_slide.notes_text_frame.text = "Mention the Nordic region."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Staff"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (r, c), text in {(0, 0): "Name", (0, 1): "Days", (1, 0): "Alice", (1, 1): "25"}.items():
        table.cell(r, c).text = text
    deck.save(str(path))
    return path


def test_pptx_one_place_per_slide_with_notes_and_tables(tmp_path: Path) -> None:
    deck = write_pptx(tmp_path / "deck.pptx")
    passages = extract(deck)
    assert [(p.location, p.heading) for p in passages] == [
        ("slide 1", "Quarterly results"),
        ("slide 1", "Quarterly results"),
        ("slide 2", "Staff"),
    ]
    assert passages[1].text == "Notes: Mention the Nordic region."
    assert passages[2].text == "Name | Days\nAlice | 25"
    assert _labels(deck) == ["deck.pptx - slide 1: Quarterly results", "deck.pptx - slide 2: Staff"]


def test_xlsx_blocks_of_rows_with_their_cell_range(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Staff"
    sheet.append(["Name", "Office", "Start"])
    for i in range(100):
        sheet.append([f"Person {i}", "Berlin" if i % 2 else "Vienna", dt.date(2020, 1, 1 + i % 28)])
    other = book.create_sheet("Q1 2024")
    other["C5"] = "Budget frozen until April"
    book.save(tmp_path / "book.xlsx")

    passages = extract(tmp_path / "book.xlsx")
    first = passages[0].location or ""
    assert first.startswith("Staff!A1:C") and len(passages[0].text.splitlines()) <= 40
    assert passages[0].text.splitlines()[:2] == [
        "Name | Office | Start",
        "Name: Person 0; Office: Vienna; Start: 2020-01-01.",
    ]
    assert passages[-2].location.endswith(":C101")
    assert passages[-1].location == "'Q1 2024'!A5:C5"
    labels = _labels(tmp_path / "book.xlsx")
    assert labels[0] == f"book.xlsx - {first}"
    assert labels[-1] == "book.xlsx - 'Q1 2024'!A5:C5"  # never merged with the other sheet


def test_eml_with_a_nested_mail_and_attachments(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "p.pdf", [["Invoice total 1,250 euros."], ["Due in 30 days."]])
    docx = write_docx(tmp_path / "d.docx", [("Terms", ["Returns within 14 days."])])
    inner = EmailMessage()
    inner["Subject"] = "Old thread"
    inner["From"] = "jonas@example.com"
    inner.set_content("The parking garage opens at 6am.")
    inner.add_attachment(docx.read_bytes(), maintype="application", subtype="octet-stream",
                         filename="terms.docx")
    mail = EmailMessage()
    mail["Subject"] = "Invoice March"
    mail["From"] = "Anna <anna@example.com>"
    mail["To"] = "jonas@example.com"
    mail["Date"] = "Tue, 05 Mar 2024 09:30:00 +0000"
    mail.set_content("Hello Jonas,\n\nthe invoice is attached.\n")
    mail.add_alternative("<p>Hello Jonas,</p><p>the invoice is attached.</p>", subtype="html")
    mail.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf",
                        filename="invoice.pdf")
    mail.add_attachment(inner)
    mail.add_attachment(b"\x89PNG\r\n", maintype="image", subtype="png", filename="logo.png")
    path = tmp_path / "mail.eml"
    path.write_bytes(mail.as_bytes())

    extracted = extract_file(path)
    places = [(p.location, p.heading, p.text) for p in extracted.passages]
    assert places[0] == (
        None,
        "Invoice March",
        "From: Anna <anna@example.com>\nTo: jonas@example.com\n"
        "Date: Tue, 05 Mar 2024 09:30:00 +0000\nSubject: Invoice March",
    )
    assert (None, "Invoice March", "the invoice is attached.") in places
    assert ("invoice.pdf p. 2", None, "Due in 30 days.") in places
    assert ("attached mail 2.eml", "Old thread", "The parking garage opens at 6am.") in places
    assert ("attached mail 2.eml, terms.docx", "Terms", "Returns within 14 days.") in places
    assert extracted.notes == []
    labels = _labels(path)
    assert "mail.eml - invoice.pdf p. 1" in labels
    assert "mail.eml - attached mail 2.eml, terms.docx: Terms" in labels


def test_msg_with_attachment(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "p.pdf", [["Invoice total 1,250 euros."]])
    path = write_msg(
        tmp_path / "mail.msg",
        subject="Invoice March",
        sender="Anna <anna@example.com>",
        to="Jonas",
        body="Hello Jonas,\n\nthe invoice is attached.\n",
        sent=dt.datetime(2024, 3, 5, 9, 30, tzinfo=dt.UTC),
        attachments=[("invoice.pdf", pdf.read_bytes()), ("broken.docx", b"PK\x03\x04 no")],
    )
    extracted = extract_file(path)
    texts = [(p.location, p.text) for p in extracted.passages]
    assert texts[0] == (
        None,
        "From: Anna <anna@example.com>\nDate: 2024-03-05 09:30:00+00:00\nSubject: Invoice March",
    )
    assert (None, "the invoice is attached.") in texts
    assert ("invoice.pdf p. 1", "Invoice total 1,250 euros.") in texts
    assert extracted.notes == ["the attachment broken.docx could not be read: the Word file looks damaged"]


def test_opendocument_text_spreadsheet_presentation(tmp_path: Path) -> None:
    from odf.draw import Frame, Page, TextBox
    from odf.opendocument import OpenDocumentPresentation, OpenDocumentSpreadsheet, OpenDocumentText
    from odf.presentation import Notes
    from odf.style import MasterPage, PageLayout
    from odf.table import Table, TableCell, TableRow
    from odf.text import H, P

    odt = OpenDocumentText()
    odt.text.addElement(H(outlinelevel=1, text="Parking"))
    odt.text.addElement(P(text="The garage opens at 6am."))
    odt.save(str(tmp_path / "notes.odt"))
    assert [(p.text, p.heading) for p in extract(tmp_path / "notes.odt")] == [
        ("The garage opens at 6am.", "Parking")
    ]

    ods = OpenDocumentSpreadsheet()
    table = Table(name="Staff")
    for row_values in (["Name", "Days"], ["Alice", "25"]):
        row = TableRow()
        for value in row_values:
            cell = TableCell()
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    table.addElement(TableRow(numberrowsrepeated=1048000))  # what LibreOffice writes: empty rows
    ods.spreadsheet.addElement(table)
    ods.save(str(tmp_path / "staff.ods"))
    [sheet] = extract(tmp_path / "staff.ods")
    assert (sheet.location, sheet.text) == ("Staff!A1:B2", "Name | Days\nName: Alice; Days: 25.")

    odp = OpenDocumentPresentation()
    layout = PageLayout(name="L")
    odp.automaticstyles.addElement(layout)
    master = MasterPage(name="M", pagelayoutname=layout)
    odp.masterstyles.addElement(master)
    for number, (title, body) in enumerate([("Welcome", "Agenda for today"), ("Budget", "Frozen")]):
        page = Page(masterpagename=master, name=f"page{number}")
        title_frame = Frame(width="20cm", height="3cm", x="1cm", y="1cm", attributes={"class": "title"})
        title_box = TextBox()
        title_box.addElement(P(text=title))
        title_frame.addElement(title_box)
        page.addElement(title_frame)
        frame = Frame(width="20cm", height="10cm", x="1cm", y="5cm")
        box = TextBox()
        box.addElement(P(text=body))
        frame.addElement(box)
        page.addElement(frame)
        notes = Notes()
        notes_frame = Frame(width="20cm", height="10cm", x="1cm", y="5cm")
        notes_box = TextBox()
        notes_box.addElement(P(text=f"Speaker note {number + 1}"))
        notes_frame.addElement(notes_box)
        notes.addElement(notes_frame)
        page.addElement(notes)
        odp.presentation.addElement(page)
    odp.save(str(tmp_path / "talk.odp"))
    assert [(p.location, p.heading, p.text) for p in extract(tmp_path / "talk.odp")] == [
        ("slide 1", "Welcome", "Agenda for today"),
        ("slide 1", "Welcome", "Notes: Speaker note 1"),
        ("slide 2", "Budget", "Frozen"),
        ("slide 2", "Budget", "Notes: Speaker note 2"),
    ]


def test_epub_chapters_and_rtf(tmp_path: Path) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("id-1")
    book.set_title("Handbook")
    book.set_language("en")
    chapters = []
    for number, (title, text) in enumerate([("Travel", "Book trains, not planes."),
                                            ("Leave", "Ask two weeks ahead.")], 1):
        chapter = epub.EpubHtml(title=title, file_name=f"c{number}.xhtml", lang="en")
        chapter.content = f"<html><body><h1>{title}</h1><p>{text}</p></body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = chapters
    epub.write_epub(str(tmp_path / "handbook.epub"), book)
    assert [(p.location, p.heading, p.text) for p in extract(tmp_path / "handbook.epub")] == [
        ("chapter 1", "Travel", "Book trains, not planes."),
        ("chapter 2", "Leave", "Ask two weeks ahead."),
    ]
    assert _labels(tmp_path / "handbook.epub")[1] == "handbook.epub - chapter 2: Leave"

    rtf = tmp_path / "memo.rtf"
    rtf.write_text(r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Caf\'e9 opens at 8.\par"
                   r"\par Second {\b bold} paragraph.\par}")
    assert [p.text for p in extract(rtf)] == ["Café opens at 8.", "Second bold paragraph."]


def test_index_and_search_cite_the_slide(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write_pptx(folder / "deck.pptx")
    with DocumentIndex(tmp_path / "d.db") as index:
        index.create_collection("C", [folder])
        report = index_collection(index, "C", None)
        assert report.added == 1 and not report.failed
        hits = Searcher(index, None).search(["C"], "Nordic region", k=1, mode="bm25").hits
    assert hits[0].source_label == "deck.pptx - slide 1: Quarterly results"
