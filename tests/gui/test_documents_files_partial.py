"""The Documents page's file rows say when a file was indexed only in part (a mail whose
attachment could not be read), with what is missing, and the folder's summary counts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import index_collection
from app.ui.pages.documents_files import FilesTree
from tests.unit.test_cli_index_report import _mail_with_broken_attachment


def test_a_partly_indexed_file_says_what_is_missing(qtbot: Any, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _mail_with_broken_attachment(docs / "hours.eml")
    (docs / "notes.txt").write_text("Parking is free for visitors.")
    with DocumentIndex(tmp_path / "index.db") as idx:
        idx.create_collection("Office", [docs])
        report = index_collection(idx, "Office", None)
        assert [Path(p.path).name for p in report.partial] == ["hours.eml"]
        files = idx.files(idx.collection("Office").id)

    tree = FilesTree()
    qtbot.addWidget(tree)
    tree.show_files([str(docs)], files, set())
    mail, notes = tree.row("hours.eml"), tree.row("notes.txt")
    assert mail is not None and notes is not None
    assert mail.text(1) == "Partly indexed"
    assert mail.text(2).startswith("1 passage; ") and "menu.pdf could not be read" in mail.text(2)
    assert (notes.text(1), notes.text(2)) == ("Indexed", "1 passage")
    top = tree.topLevelItem(0)
    assert top is not None and top.text(2) == "1 indexed, 1 partly indexed"
