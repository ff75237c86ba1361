"""Rich Text Format (.rtf, what WordPad and many exports write), through striprtf."""

from __future__ import annotations

from pathlib import Path

from app.core.documents.extract import Sink, paragraphs
from app.core.documents.formats.guards import read_text_capped
from app.core.i18n import translate

# RTF carries a lot of markup per character of text: read this many raw characters per
# character of text the limit allows.
_MARKUP_FACTOR = 4


def extract_rtf(path: Path, sink: Sink) -> None:
    from striprtf.striprtf import rtf_to_text

    raw, truncated = read_text_capped(path, sink.limits.max_chars * _MARKUP_FACTOR)
    if truncated:
        sink.note(
            translate("rtf", "only the first part of the RTF file is searchable (the file is very long)")
        )
    if not raw.lstrip().startswith("{\\rtf"):
        from app.core.documents.extract import ExtractionError, damaged

        raise ExtractionError("corrupt", damaged("RTF"))
    for para in paragraphs(rtf_to_text(raw, errors="ignore")):
        if not sink.add(para):
            return
