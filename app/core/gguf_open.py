"""Opening a GGUF file safely, up to its parsed header: plain-words errors for a missing,
unreadable, empty, truncated or foreign file and for impossible counts, checked before
`gguf.GGUFReader` parses anything; then the reader itself.

Stock `GGUFReader` builds one numpy view per element of every metadata array; a 262k-token
vocabulary then costs seconds. `_HeaderReader` keeps the library's parsing but takes long arrays
in one step (numbers as one view, strings skipped over), which brings that down to milliseconds.
(gguf_facts.py reads the facts from what this opens.)
"""

from __future__ import annotations

import logging
import re
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from app.core.errors import PlainError
from app.core.i18n import number, translate, translate_noop

log = logging.getLogger(__name__)

GGUF_MAGIC_BYTES = b"GGUF"

# Arrays longer than this are read in bulk (tokenizer vocabularies, merges, scores).
_BULK_ARRAY = 64


class GGUFError(PlainError):
    """A model file we cannot use; the message is meant for the user as is."""


def open_checked(file: Path) -> tuple[int, GGUFReader]:
    """(file size, a reader over its header) after every check; raises GGUFError."""
    file_size = _check_file(file)
    _check_counts(file, file_size)
    return file_size, _open_reader(file, file_size)


# --- opening ----------------------------------------------------------------------------------


def _check_file(file: Path) -> int:
    try:
        if not file.exists():
            raise GGUFError(translate("gguf_facts", "The file {file} does not exist.").format(file=file))
        if file.is_dir():
            raise GGUFError(
                translate("gguf_facts", "{file} is a folder, not a model file.").format(file=file)
            )
        size = file.stat().st_size
        with file.open("rb") as fh:
            magic = fh.read(4)
    except PermissionError as exc:
        raise GGUFError(
            translate("gguf_facts", "Enclave is not allowed to read {file}.").format(file=file)
        ) from exc
    except OSError as exc:
        raise GGUFError(
            translate("gguf_facts", "The file {file} could not be read ({reason}).").format(
                file=file, reason=exc.strerror or exc
            )
        ) from exc
    if size == 0:
        raise GGUFError(translate("gguf_facts", "This file is empty; it is not a GGUF model."))
    if magic != GGUF_MAGIC_BYTES:
        if GGUF_MAGIC_BYTES.startswith(magic):
            raise GGUFError(_truncated_at_start())
        raise GGUFError(translate("gguf_facts", "This file is not a GGUF model."))
    return size


def _truncated_at_start() -> str:
    return translate("gguf_facts", "This model file is incomplete (truncated): it stops in its first bytes.")


# The smallest a metadata entry (key length, 1-byte key, type, 1-byte value) and a tensor info
# (name length, 1-byte name, n_dims, one dimension, type, offset) can be on disk.
_MIN_KV_BYTES = 8 + 1 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8
_PLAUSIBLE_COUNT = 100_000  # real models have tens of metadata entries and up to ~10k tensors


def _check_counts(file: Path, file_size: int) -> None:
    """Refuse counts that cannot fit in the file before parsing: the reader would otherwise
    walk the (zero-filled, or random) tensor data as millions of tiny entries, for minutes."""
    try:
        with file.open("rb") as handle:
            head = handle.read(24)
    except OSError as exc:
        reason = exc.strerror or translate("gguf_facts", "input/output error")
        raise GGUFError(
            translate("gguf_facts", "The file {file} could not be read ({reason}).").format(
                file=file, reason=reason
            )
        ) from None
    if len(head) < 24:
        raise GGUFError(_truncated_at_start())
    (version,) = struct.unpack_from("<I", head, 4)
    order = ">" if version & 0xFFFF == 0 else "<"  # a file written on a big-endian machine
    n_tensors, n_kv = struct.unpack_from(f"{order}QQ", head, 8)
    if n_kv * _MIN_KV_BYTES > file_size or n_tensors * _MIN_TENSOR_INFO_BYTES > file_size:
        log.info("impossible counts in %s: %d tensors, %d metadata entries", file, n_tensors, n_kv)
        if n_kv <= _PLAUSIBLE_COUNT and n_tensors <= _PLAUSIBLE_COUNT:  # a real header, cut short
            raise GGUFError(
                translate(
                    "gguf_facts",
                    "This model file is incomplete (truncated): it stops inside its header. "
                    "Download it again.",
                )
            )
        raise GGUFError(
            translate(
                "gguf_facts",
                "This model file is damaged: its header announces more entries than the file can hold.",
            )
        )


def _open_reader(file: Path, file_size: int) -> _HeaderReader:
    try:
        return _HeaderReader(file)
    except _TruncatedData as exc:
        if exc.needed > 2 * file_size + 1024**3:  # no download stops at a few per cent
            raise GGUFError(
                translate(
                    "gguf_facts",
                    "This model file is damaged: its list of tensors points far past the end of the file.",
                )
            ) from None
        have, need = _human(file_size), _human(exc.needed)
        if have == need:  # too close to tell apart in MB
            have, need = (
                translate("gguf_facts", "{count} bytes").format(count=number(file_size)),
                number(exc.needed),
            )
        raise GGUFError(
            translate(
                "gguf_facts",
                "This model file is incomplete (truncated): it has {have} of the {need} it needs. "
                "Download it again.",
            ).format(have=have, need=need)
        ) from None
    except Exception as exc:
        log.info("GGUFReader failed on %s: %r", file, exc)
        version = re.search(r"version (\d+)", str(exc))
        if version:
            raise GGUFError(
                translate(
                    "gguf_facts",
                    "This GGUF file uses format version {version}, which Enclave cannot "
                    "read (it may be damaged, or made for a much newer or older program).",
                ).format(version=version.group(1))
            ) from None
        raise GGUFError(
            translate(
                "gguf_facts",
                "This model file is incomplete (truncated) or damaged: its header could not be read.",
            )
        ) from None


class _TruncatedData(Exception):
    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class _HeaderReader(GGUFReader):
    """GGUFReader that reads long metadata arrays in bulk and checks the data is all there."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "r")

    def _get_field_parts(
        self, orig_offs: int, raw_type: int
    ) -> tuple[int, list[Any], list[int], list[GGUFValueType]]:
        if raw_type != GGUFValueType.ARRAY:
            return super()._get_field_parts(orig_offs, raw_type)
        raw_itype = self._get(orig_offs, np.uint32)
        alen = self._get(orig_offs + 4, np.uint64)
        count = int(alen[0])
        itype = GGUFValueType(int(raw_itype[0]))
        if count <= _BULK_ARRAY or itype == GGUFValueType.ARRAY:
            return super()._get_field_parts(orig_offs, raw_type)
        start = orig_offs + 12
        if itype == GGUFValueType.STRING:
            # We never need the vocabulary text: step over it, keep only its length (alen).
            end = self._skip_strings(start, count)
            return end - orig_offs, [raw_itype, alen], [], [GGUFValueType.ARRAY, itype]
        values = self._get(start, self.gguf_scalar_to_np[itype], count)
        if len(values) != count:
            raise ValueError("metadata array runs past the end of the file")
        size = 12 + int(values.nbytes)
        return size, [raw_itype, alen, values], [2], [GGUFValueType.ARRAY, itype]

    def _skip_strings(self, offs: int, count: int) -> int:
        swapped = (sys.byteorder == "little") != (self.byte_order == "I")
        unpack = struct.Struct(">Q" if swapped else "<Q").unpack_from
        buf = self.data.data  # a memoryview over the memory map: no copy
        for _ in range(count):
            (length,) = unpack(buf, offs)  # struct.error past the end = truncated header
            offs += 8 + length
        if offs > len(buf):
            raise ValueError("metadata strings run past the end of the file")
        return offs

    def _build_tensors(self, start_offs: int, fields: list[Any]) -> None:
        # Check before the library maps tensor data: past the end it fails with a reshape
        # error that says nothing about a half-downloaded file.
        needed = 0
        for field in fields:
            _nl, _name, _nd, dims, raw_dtype, offset_tensor = field.parts
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(int(raw_dtype[0]))]
            n_bytes = int(np.prod(dims, dtype=np.uint64)) * type_size // block
            needed = max(needed, start_offs + int(offset_tensor[0]) + n_bytes)
        if needed > len(self.data):
            raise _TruncatedData(needed)
        super()._build_tensors(start_offs, fields)


# --- extracting -------------------------------------------------------------------------------


def _human(n_bytes: int) -> str:
    for unit, size in (
        (translate_noop("gguf_facts", "{size} GB"), 1024**3),
        (translate_noop("gguf_facts", "{size} MB"), 1024**2),
        (translate_noop("gguf_facts", "{size} KB"), 1024),
    ):
        if n_bytes >= size:
            return translate("gguf_facts", unit).format(size=number(n_bytes / size, 1))
    return translate("gguf_facts", "{count} bytes").format(count=n_bytes)
