"""`enclave index` tells the user about every file it did not index whole: a mail whose
attachment could not be read is indexed (its own text is searchable) and the report says
which part is missing, in the printed lines and in --json."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from app.cli import run_cli


def _mail_with_broken_attachment(path: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "facilities@example.com"
    msg["To"] = "staff@example.com"
    msg["Subject"] = "Canteen opening hours"
    msg.set_content("The canteen opens at noon and closes at two on weekdays.")
    # Bytes that say PDF but are not one: the mail is indexed, the attachment is not.
    msg.add_attachment(b"%PDF-1.7 not really", maintype="application", subtype="pdf",
                       filename="menu.pdf")
    path.write_bytes(bytes(msg))


def test_index_prints_the_files_indexed_only_in_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _mail_with_broken_attachment(docs / "hours.eml")
    (docs / "notes.txt").write_text("Parking is free for visitors.")

    assert run_cli(["index", "Office", str(docs), "--no-embed"]) == 0
    out = capsys.readouterr().out
    assert "2 added" in out
    [line] = [ln for ln in out.splitlines() if "indexed only in part" in ln]
    assert "hours.eml" in line and "menu.pdf could not be read" in line
    assert "notes.txt" not in line

    # Run again: nothing changed, and the part that is missing is still reported.
    assert run_cli(["index", "Office", "--no-embed", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["unchanged"] == 2
    [partial] = report["partial"]
    assert partial["path"].endswith("hours.eml") and "menu.pdf" in partial["reason"]
