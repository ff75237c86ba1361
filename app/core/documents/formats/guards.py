"""Checks done before a parser sees a file, so a hostile one costs nothing.

Zip-based formats (docx, xlsx, pptx, odt/ods/odp, epub) are judged from the zip's central
directory: the sizes it declares once unpacked, per member and in all, and the compression ratio.
Python's zipfile never inflates a member past its declared size (it stops there and the CRC check
fails), so a zip that lies about its sizes cannot get past these numbers either.

Text is read as a stream with an incremental decoder, up to a number of characters: a 1 GB
one-line log costs a few MB and a fraction of a second.
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

from app.core.documents.extract import ExtractionError, Limits, damaged
from app.core.i18n import number, translate

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BLOCK = 1 << 20


def _mb(n: int) -> str:
    if n < 1 << 20:
        return translate("guards", "{size} KB").format(size=max(1, round(n / 1024)))
    if n < 1 << 30:
        return translate("guards", "{size} MB").format(size=number(n / (1024 * 1024)))
    return translate("guards", "{size} GB").format(size=number(n / (1 << 30), 1))


def check_zip(path: Path, limits: Limits, name: str) -> None:
    """Raise ExtractionError unless `path` is a zip that is safe to unpack within the limits.
    `name` is the format as the user knows it ("Word", "Excel"; as extract's _NAMES spells it)."""
    name = translate("extract", name)
    if not zipfile.is_zipfile(path):
        # An encrypted Office file is an OLE container, not a zip: say so instead of "damaged".
        with path.open("rb") as fh:
            if fh.read(8) == _OLE_MAGIC:
                raise ExtractionError("password", translate("guards", "the document is password-protected"))
        raise ExtractionError("corrupt", damaged(name))
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ExtractionError("corrupt", damaged(name)) from exc
    if len(members) > limits.max_members:
        raise ExtractionError(
            "unsafe",
            translate(
                "guards",
                "the {format} file holds {parts} parts (the limit is {limit}); "
                "it may be built to overload the computer",
            ).format(format=name, parts=number(len(members)), limit=number(limits.max_members)),
        )
    total = 0
    for member in members:
        total += member.file_size
        if member.file_size > limits.ratio_floor_bytes and member.file_size > limits.max_ratio * max(
            member.compress_size, 1
        ):
            raise ExtractionError(
                "unsafe",
                translate(
                    "guards",
                    "the {format} file would unpack to {unpacked} from {packed} (a 'zip bomb'); not opened",
                ).format(format=name, unpacked=_mb(member.file_size), packed=_mb(member.compress_size)),
            )
    if total > limits.max_unpacked_bytes:
        raise ExtractionError(
            "unsafe",
            translate("guards", "the {format} file would unpack to {unpacked}; the limit is {limit}").format(
                format=name, unpacked=_mb(total), limit=_mb(limits.max_unpacked_bytes)
            ),
        )


def read_text_capped(path: Path, max_chars: int) -> tuple[str, bool]:
    """(up to max_chars characters of the file, whether there was more). UTF-8 (with or without
    BOM) first, then the Windows code page most office exports use, then latin-1, which never
    fails, so a weird file still yields searchable text instead of an error."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return _read_decoded(path, encoding, max_chars)
        except UnicodeDecodeError:
            continue
    return _read_decoded(path, "latin-1", max_chars)


def _read_decoded(path: Path, encoding: str, max_chars: int) -> tuple[str, bool]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    parts: list[str] = []
    count = 0
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            text = decoder.decode(block, final=not block)
            if count + len(text) > max_chars:
                parts.append(text[: max_chars - count])
                # More text follows unless the rest of this block was nothing at all.
                return "".join(parts), True
            parts.append(text)
            count += len(text)
            if not block:
                return "".join(parts), False
