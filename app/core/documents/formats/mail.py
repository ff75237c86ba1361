"""E-mail: .eml (the standard library's email package) and Outlook .msg (extract-msg).

A mail reads as its header lines (From, To, Date, Subject), then its body (plain text, or the
HTML part through the HTML reader), under the subject as the heading. Attachments go through
the same extractors as files on disk, written to a private temporary folder for the length of
the call, and their passages say where they came from: the location "invoice.pdf p. 2" (a
forwarded mail nests: "fwd.eml, invoice.pdf p. 2"). An attachment that cannot be read is noted
and the mail is still indexed.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.core.documents.extract import (
    ExtractionError,
    Passage,
    Sink,
    extract_file,
    format_of,
    paragraphs,
)
from app.core.documents.formats.html_text import html_blocks
from app.core.i18n import translate

log = logging.getLogger("enclave.documents.extract")


def extract_eml(path: Path, sink: Sink, depth: int) -> None:
    from email import policy
    from email.parser import BytesParser

    with path.open("rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    subject = _header(message, "subject")
    _add_header_lines(
        sink,
        subject,
        [
            ("From", _header(message, "from")),
            ("To", _header(message, "to")),
            ("Cc", _header(message, "cc")),
            ("Date", _header(message, "date")),
        ],
    )
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        _add_body(sink, str(content), body.get_content_type() == "text/html", subject)
    attachments: list[tuple[str, bytes]] = []
    for index, part in enumerate(message.iter_attachments(), 1):
        name = part.get_filename() or ""
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            data = inner.as_bytes() if hasattr(inner, "as_bytes") else b""
            name = name or f"attached mail {index}.eml"
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        if name and data:
            attachments.append((name, data))
    _add_attachments(sink, attachments, depth)


def extract_msg_file(path: Path, sink: Sink, depth: int) -> None:
    import extract_msg

    message = extract_msg.openMsg(str(path), delayAttachments=False)
    try:
        _add_msg(sink, message, depth)
    finally:
        message.close()


def _add_msg(sink: Sink, message: Any, depth: int) -> None:
    subject = _text(getattr(message, "subject", None))
    date = getattr(message, "date", None)
    _add_header_lines(
        sink,
        subject,
        [
            ("From", _text(getattr(message, "sender", None))),
            ("To", _text(getattr(message, "to", None))),
            ("Cc", _text(getattr(message, "cc", None))),
            ("Date", str(date) if date else ""),
        ],
    )
    body = _text(getattr(message, "body", None))
    if body.strip():
        _add_body(sink, body, False, subject)
    else:
        markup = getattr(message, "htmlBody", None)
        if markup:
            text = markup.decode("utf-8", "replace") if isinstance(markup, bytes) else str(markup)
            _add_body(sink, text, True, subject)
    attachments: list[tuple[str, bytes]] = []
    for index, attachment in enumerate(getattr(message, "attachments", []) or [], 1):
        name = _text(getattr(attachment, "longFilename", None)) or _text(
            getattr(attachment, "shortFilename", None)
        )
        data = getattr(attachment, "data", None)
        if data is not None and not isinstance(data, bytes | bytearray):
            # An attached Outlook item: a message object of its own.
            if depth + 1 > sink.limits.max_attachment_depth:
                continue
            label = (
                name
                or _text(getattr(data, "subject", None))
                or translate("mail", "attached mail {number}").format(number=index)
            )
            inner = Sink(sink.path, _remaining(sink), deadline=sink.deadline)
            try:
                _add_msg(inner, data, depth + 1)
            except Exception as exc:
                sink.note(
                    translate("mail", "the attached mail {mail} could not be read ({reason})").format(
                        mail=label, reason=type(exc).__name__
                    )
                )
                continue
            _take(sink, label, inner.passages, inner.notes)
            continue
        if name and data:
            attachments.append((name, bytes(data)))
    _add_attachments(sink, attachments, depth)


def _text(value: Any) -> str:
    return "" if value is None else str(value).replace("\x00", "").strip()


def _header(message: Any, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a malformed header must not cost the mail
        return ""
    return "" if value is None else " ".join(str(value).split())


def _add_header_lines(sink: Sink, subject: str, lines: list[tuple[str, str]]) -> None:
    text = "\n".join(f"{label}: {value}" for label, value in [*lines, ("Subject", subject)] if value)
    sink.add(text, None, subject or None)


def _add_body(sink: Sink, body: str, is_html: bool, subject: str) -> None:
    heading = subject or None
    if is_html:
        for text, _ in html_blocks(body[: sink.limits.max_chars]):
            if not sink.add(text, None, heading):
                return
        return
    for para in paragraphs(body[: sink.limits.max_chars]):
        if not sink.add(para, None, heading):
            return


def _remaining(sink: Sink) -> Any:
    return dataclasses.replace(sink.limits, max_chars=max(1, sink.limits.max_chars - sink.chars))


_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")
# Pictures attached to a mail are read with OCR only from this size: a scanned page or a photo
# of a document is hundreds of KB; logos, signatures and icons are a few KB.
MIN_ATTACHED_PICTURE_BYTES = 50_000


def _add_attachments(sink: Sink, attachments: Iterable[tuple[str, bytes]], depth: int) -> None:
    """Each supported attachment through extract_file, from a private temporary copy."""
    todo = [
        (name, data)
        for name, data in attachments
        if format_of(Path(name)) is not None
        # A small picture in a mail is a logo or a signature, not a scanned page.
        and not (format_of(Path(name)) == "image" and len(data) < MIN_ATTACHED_PICTURE_BYTES)
    ]
    if not todo:
        return
    if depth + 1 > sink.limits.max_attachment_depth:
        sink.note(translate("mail", "attachments nested deeper than this are not searchable"))
        return
    with tempfile.TemporaryDirectory(prefix="enclave-attach-") as folder:
        for index, (name, data) in enumerate(todo):
            if sink.full or sink.out_of_time():
                return
            display = Path(name.replace("\\", "/")).name or name
            safe = _UNSAFE_NAME.sub("_", display)[-100:] or "attachment"
            copy = Path(folder) / f"{index}-{safe}"
            copy.write_bytes(data)
            try:
                inner = extract_file(copy, _remaining(sink), depth=depth + 1, deadline=sink.deadline)
            except ExtractionError as exc:
                sink.note(
                    translate("mail", "the attachment {file} could not be read: {reason}").format(
                        file=display, reason=exc.message
                    )
                )
                continue
            finally:
                copy.unlink(missing_ok=True)
            _take(sink, display, inner.passages, inner.notes)


def _take(sink: Sink, name: str, passages: list[Passage], notes: list[str]) -> None:
    """Passages of an attachment as the mail's own, with the attachment's name in front of
    their place in it."""
    for passage in passages:
        where = f"{name} p. {passage.page}" if passage.page is not None else name
        if passage.location:
            where = f"{where}, {passage.location}"
        if not sink.add(passage.text, None, passage.heading, where):
            break
    for note in notes:
        sink.note(translate("mail", "{attachment}: {note}").format(attachment=name, note=note))
