"""Hostile and huge input never breaks a folder's indexing: zip bombs dressed as Office files,
a 1 GB one-line text file, a 10,000-page PDF, link loops, pipes, unreadable files, names with
unicode and spaces, and a name that is not valid UTF-8 (through `enclave index` itself). Each bad
file gets a plain reason in its row, memory stays far under 1 GB, the rest is indexed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from app.core.documents.extract import ExtractionError, Limits, extract_file
from app.core.documents.index import DocumentIndex
from app.core.documents.indexer import index_collection
from tests.fixtures.documents.builders import write_docx, write_pdf

REPO = Path(__file__).resolve().parents[2]


def write_zip_bomb(path: Path, member: str, unpacked_mb: int = 64) -> Path:
    """A zip whose one member inflates 64 MB of zeros from about 64 KB: what a bomb looks like
    from its central directory (a real one nests or repeats this; the check is the same)."""
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(member, "w", force_zip64=True) as fh:
            for _ in range(unpacked_mb):
                fh.write(block)
    return path


@pytest.mark.parametrize(
    "name, member",
    [
        ("report.docx", "word/document.xml"),
        ("book.xlsx", "xl/worksheets/sheet1.xml"),
        ("deck.pptx", "ppt/slides/slide1.xml"),
        ("notes.odt", "content.xml"),
        ("book.epub", "OEBPS/c1.xhtml"),
    ],
)
def test_zip_bombs_are_refused_before_inflating(tmp_path: Path, name: str, member: str) -> None:
    bomb = write_zip_bomb(tmp_path / name, member)
    assert bomb.stat().st_size < 200_000
    started = time.monotonic()
    with pytest.raises(ExtractionError) as info:
        extract_file(bomb)
    assert time.monotonic() - started < 0.5
    assert info.value.kind == "unsafe"
    assert "would unpack to 64 MB" in info.value.message and "zip bomb" in info.value.message
    # Big in all, even at an ordinary ratio: refused by the total.
    with pytest.raises(ExtractionError, match="the limit is 1 MB"):
        extract_file(bomb, Limits(max_unpacked_bytes=1 << 20, max_ratio=10_000))


_PEAK_RSS = """
import resource, sys, time
from pathlib import Path
from app.core.documents.extract import Limits, extract_file
from app.core.documents.chunking import chunk_passages, estimate_tokens
limits = Limits(max_pages=int(sys.argv[2])) if len(sys.argv) > 2 else Limits()
started = time.monotonic()
out = extract_file(Path(sys.argv[1]), limits)
chunks = chunk_passages(out.passages, count_tokens=estimate_tokens)
# Linux keeps ru_maxrss across fork and exec, so a child of a big test process would report
# its parent's peak; VmHWM belongs to this process's own memory map.
try:
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    peak_mb = int(hwm.split()[1]) // 1024
except OSError:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"{peak_mb} "
      f"{time.monotonic() - started:.2f} {len(chunks)} {out.n_pages} {out.notes!r}")
"""


def _measure(*args: str) -> tuple[int, float, int, str]:
    """(peak RSS MB, seconds, chunks, notes) of extracting and chunking in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *args],
        capture_output=True, text=True, timeout=240, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rss, seconds, chunks, _pages, notes = done.stdout.strip().split(" ", 4)
    print(f"peak RSS {rss} MB, {seconds} s, {chunks} chunks, {notes}")
    return int(rss), float(seconds), int(chunks), notes


def test_a_1gb_one_line_text_file_is_streamed_and_capped(tmp_path: Path) -> None:
    big = tmp_path / "server log.txt"
    line = b"GET /index.html 200 0.012s user=anna " * 28_000  # about 1 MB, no newline
    with big.open("wb") as fh:
        for _ in range(1024):
            fh.write(line)
    assert big.stat().st_size > 1_000_000_000
    rss, seconds, chunks, notes = _measure(str(big))
    assert rss < 1024, f"peak RSS {rss} MB"
    assert "only the first 10,000,000 characters are searchable" in notes
    assert chunks > 1000 and seconds < 120


def test_a_10000_page_pdf_is_read_up_to_the_page_and_time_caps(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "archive.pdf", [[f"Page {n} of the archive."] for n in range(10_000)])
    rss, seconds, _chunks, notes = _measure(str(pdf), "2000")
    assert "only the first 2,000 of 10,000 pages are searchable" in notes
    assert rss < 1024 and seconds < 60
    slow = extract_file(pdf, Limits(max_pages=10_000, max_seconds=0.3))
    assert slow.n_pages is not None and 0 < slow.n_pages < 10_000
    assert slow.notes == ["reading stopped after 0.3 seconds; only the part read by then is searchable"]


def test_a_folder_of_hostile_entries_is_indexed_around_them(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "Über Größe – notes 2024.md").write_text("# Parking\n\nThe garage opens at 6am.\n")
    write_docx(docs / "handbook with spaces.docx", [("Leave", ["25 days a year."])])
    write_zip_bomb(docs / "invoice.xlsx", "xl/worksheets/sheet1.xml")
    (docs / "loop a.txt").symlink_to(docs / "loop b.txt")
    (docs / "loop b.txt").symlink_to(docs / "loop a.txt")
    (docs / "gone.txt").symlink_to(docs / "nowhere.txt")
    (docs / "again").symlink_to(docs)  # a folder link loop
    os.mkfifo(docs / "pipe.txt")
    with DocumentIndex(tmp_path / "d.db") as index:
        index.create_collection("C", [docs])
        started = time.monotonic()
        report = index_collection(index, "C", None)
        assert time.monotonic() - started < 30
        rows = {Path(p).name: r for p, r in index.files(index.collection("C").id).items()}
    assert report.added == 2
    kb = f"{round(zipfile.ZipFile(docs / 'invoice.xlsx').infolist()[1].compress_size / 1024)} KB"
    assert {Path(i.path).name: (i.kind, i.reason) for i in report.failed} == {
        "invoice.xlsx": (
            "unsafe",
            f"the Excel file would unpack to 64 MB from {kb} (a 'zip bomb'); not opened",
        ),
        "loop a.txt": ("unreadable", "the link points to itself (a link loop)"),
        "loop b.txt": ("unreadable", "the link points to itself (a link loop)"),
        "gone.txt": ("unreadable", "the link points to a file that is not there"),
    }
    assert {Path(i.path).name: i.reason for i in report.skipped} == {
        "again": "a link to a folder is not followed (add that folder itself to index it)",
        "pipe.txt": "not a regular file (a pipe, socket or device)",
    }
    assert rows["Über Größe – notes 2024.md"].status == "indexed"
    assert rows["invoice.xlsx"].status == "error" and "zip bomb" in (rows["invoice.xlsx"].error or "")
    assert rows["loop a.txt"].error == "the link points to itself (a link loop)"
    assert rows["pipe.txt"].status == "skipped"


def test_an_unreadable_file_gets_a_reason(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fine.txt").write_text("Badges are replaced by the front desk.")
    locked = docs / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    try:
        with DocumentIndex(tmp_path / "d.db") as index:
            index.create_collection("C", [docs])
            report = index_collection(index, "C", None)
            rows = {Path(p).name: r for p, r in index.files(index.collection("C").id).items()}
    finally:
        locked.chmod(0o644)
    assert report.added == 1
    assert [(Path(i.path).name, i.reason) for i in report.failed] == [
        ("locked.txt", "cannot read (Permission denied)")
    ]
    assert rows["locked.txt"].status == "error"


def _enclave(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ENCLAVE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=120, cwd=REPO, env=env
    )


def test_enclave_index_survives_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "menu.txt").write_text("The canteen serves soup on Mondays.")
    # "café lunch.txt" as an old Windows volume writes it: latin-1, not UTF-8.
    odd = os.path.join(os.fsencode(docs), b"caf\xe9 lunch.txt")
    with open(odd, "wb") as fh:
        fh.write(b"Lunch is served from noon to two.")
    home = tmp_path / "home"

    first = _enclave("index", "Canteen", str(docs), "--no-embed", home=home)
    assert first.returncode == 0, first.stderr
    assert "2 added" in first.stdout and "could not index" not in first.stdout
    found = _enclave("search-docs", "Canteen", "lunch noon", "--mode", "bm25", "--json", home=home)
    assert found.returncode == 0, found.stderr
    [hit] = json.loads(found.stdout)["results"]
    assert hit["source"] == "caf\ufffd lunch.txt"
    # Stored so that the next run recognises the file: nothing re-indexed, nothing lost.
    again = _enclave("index", "Canteen", "--no-embed", "--json", home=home)
    report = json.loads(again.stdout)
    assert (report["added"], report["unchanged"], report["removed"]) == (0, 2, 0)
