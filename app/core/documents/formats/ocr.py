"""Reading text from pictures: scanned PDF pages and image files, offline.

RapidOCR (PaddleOCR's PP-OCR models on ONNX Runtime) ships its detection, direction and
recognition models inside its wheel; we point it at those files explicitly, so it never tries to
download one (its fallback is an HTTP download, which Enclave must never make unasked).

One reader per process, made on first use (about 2 s: three ONNX sessions) and reused; the
models are not thread-safe across calls, so calls are serialised with a lock. Blocking and
CPU-bound (seconds per page on 2 cores): call from a worker thread.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.documents.extract import ExtractionError, Sink, clean
from app.core.i18n import translate

# onnxruntime phones home (an events endpoint) unless told not to; also when app.core is used
# without app/__main__.py, which sets it first (tests/privacy proves 0 connections).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

log = logging.getLogger("enclave.documents.ocr")

# A PDF page with less text than this is treated as a scan (a page number or a running header
# alone is not the page's content).
SCANNED_PAGE_MAX_CHARS = 20
# Scanned pages are rendered at this resolution: the recognition model reads text lines about
# 48 px high, which 150 dpi gives for 10-12 pt print without the cost of 300 dpi.
RENDER_DPI = 150
# Recognised lines below this confidence are noise (stains, stamps, photos).
MIN_LINE_SCORE = 0.5
# Pictures bigger than this many pixels are refused before decoding (a decompression bomb).
MAX_IMAGE_PIXELS = 80_000_000


class OcrUnavailable(ExtractionError):
    def __init__(self, why: str) -> None:
        super().__init__("unreadable", why)


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    top: float
    left: float
    height: float
    score: float


_lock = threading.Lock()
_engine: Any = None


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import rapidocr  # noqa: F401
    except ImportError:
        return False
    return True


def _bundled_models() -> dict[str, Path]:
    import rapidocr

    root = Path(rapidocr.__file__).parent / "models"
    found = {
        "Det": sorted(root.glob("*det*.onnx")),
        "Rec": sorted(root.glob("*rec*.onnx")),
        "Cls": sorted(root.glob("*cls*.onnx")),
    }
    missing = [name for name, files in found.items() if not files]
    if missing:
        raise OcrUnavailable("the text-recognition models are missing from this installation")
    return {name: files[-1] for name, files in found.items()}


def _reader() -> Any:
    global _engine
    if _engine is None:
        if not available():
            raise OcrUnavailable("reading scanned pages is not installed (rapidocr, onnxruntime)")
        from rapidocr import RapidOCR

        params: dict[str, Any] = {"Global.log_level": "error"}
        for task, path in _bundled_models().items():
            params[f"{task}.model_path"] = str(path)
        _engine = RapidOCR(params=params)
        # RapidOCR logs at INFO through its own handler; keep our log free of its chatter.
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return _engine


def read_lines(image: Any) -> list[OcrLine]:
    """Text lines of one picture (a PIL image, numpy array or path), top to bottom."""
    with _lock:
        result = _reader()(image)
    boxes = getattr(result, "boxes", None)
    txts = getattr(result, "txts", None) or ()
    scores = getattr(result, "scores", None) or ()
    lines: list[OcrLine] = []
    for i, text in enumerate(txts):
        score = float(scores[i]) if i < len(scores) else 1.0
        text = clean(str(text))
        if not text or score < MIN_LINE_SCORE:
            continue
        if boxes is not None and i < len(boxes):
            ys = [float(p[1]) for p in boxes[i]]
            xs = [float(p[0]) for p in boxes[i]]
            top, left, height = min(ys), min(xs), max(ys) - min(ys)
        else:
            top, left, height = float(i), 0.0, 1.0
        lines.append(OcrLine(text, top, left, max(height, 1.0), score))
    lines.sort(key=lambda ln: (round(ln.top / max(ln.height, 1.0) / 0.6), ln.left))
    return lines


def paragraphs(lines: list[OcrLine]) -> list[str]:
    """Lines into paragraphs: a vertical gap bigger than about one line height starts a new one."""
    out: list[str] = []
    current: list[str] = []
    previous: OcrLine | None = None
    for line in lines:
        if previous is not None and line.top - (previous.top + previous.height) > 0.9 * line.height:
            out.append(" ".join(current))
            current = []
        current.append(line.text)
        previous = line
    if current:
        out.append(" ".join(current))
    return out


def ocr_into(sink: Sink, image: Any, page: int | None, heading: str | None) -> bool:
    """Recognise `image` and add its paragraphs to `sink`; False once the sink is full."""
    return all(sink.add(para, page, heading) for para in paragraphs(read_lines(image)))


def extract_image(path: Path, sink: Sink) -> None:
    """An image file (a photographed or scanned page): its text, as page 1."""
    if not sink.limits.ocr:
        raise ExtractionError(
            "empty", translate("ocr", "a picture: reading text from pictures is turned off")
        )
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        # Pillow warns (and at twice its limit raises) on decompression bombs; we refuse them
        # ourselves below, from the declared size, before any pixel is decoded.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            picture = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise ExtractionError("unsafe", translate("ocr", "the picture is too large to read")) from exc
        except (Image.UnidentifiedImageError, SyntaxError, ValueError) as exc:
            # Pillow's "cannot identify image file" is an OSError: not a disk problem here.
            raise ExtractionError("corrupt", translate("ocr", "the picture looks damaged")) from exc
    with picture:
        width, height = picture.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ExtractionError("unsafe", translate("ocr", "the picture is too large to read"))
        frames = getattr(picture, "n_frames", 1)
        pages = sink.pages_cap(frames)
        for index in range(pages):
            if sink.out_of_time():
                break
            picture.seek(index)
            sink.status(
                translate("ocr", "reading the text in the picture (page {page} of {pages})").format(
                    page=index + 1, pages=pages
                )
            )
            sink.n_pages = index + 1
            sink.ocr_pages += 1
            if not ocr_into(sink, picture.convert("RGB"), index + 1 if frames > 1 else None, None):
                break
