"""Where each field of a GGUF header sits, so the fuzzer can aim its mutations.

This is a test tool, not the app's reader (the app reads GGUF with `gguf.GGUFReader` only): it
walks the header once per seed file and records byte offsets of the fields worth breaking
(counts, lengths, type tags, values, tensor infos). It trusts the seed, which is a real model.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

# GGUF value types (gguf.GGUFValueType) and the size of their scalars.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
SCALAR_SIZES = {
    UINT8: 1,
    INT8: 1,
    UINT16: 2,
    INT16: 2,
    UINT32: 4,
    INT32: 4,
    FLOAT32: 4,
    BOOL: 1,
    UINT64: 8,
    INT64: 8,
    FLOAT64: 8,
}
SCALAR_FORMATS = {
    UINT8: "<B",
    INT8: "<b",
    UINT16: "<H",
    INT16: "<h",
    UINT32: "<I",
    INT32: "<i",
    FLOAT32: "<f",
    BOOL: "<?",
    UINT64: "<Q",
    INT64: "<q",
    FLOAT64: "<d",
}


@dataclass
class KV:
    key: str
    key_len_off: int
    type_off: int
    vtype: int
    value_off: int
    end: int
    str_len_off: int | None = None  # a string value: where its length is
    item_type_off: int | None = None  # an array: its item type, count and first item
    count_off: int | None = None
    count: int = 0
    item_type: int | None = None


@dataclass
class TensorInfo:
    name: str
    name_len_off: int
    n_dims_off: int
    n_dims: int
    dim_offs: list[int]
    type_off: int
    offset_off: int
    end: int


@dataclass
class Layout:
    path: Path
    file_size: int
    header: bytes  # everything up to the start of tensor data
    kvs: list[KV] = field(default_factory=list)
    tensors: list[TensorInfo] = field(default_factory=list)
    infos_end: int = 0  # end of the last tensor info (padding follows)
    data_start: int = 0

    def kv(self, suffix: str) -> KV | None:
        return next((k for k in self.kvs if k.key.endswith(suffix)), None)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take("<Q")
        text = self.data[self.pos : self.pos + n].decode("utf-8", errors="replace")
        self.pos += n
        return text


def read_layout(path: Path, max_header: int = 64 * 1024 * 1024) -> Layout:
    with path.open("rb") as handle:
        data = handle.read(max_header)
    c = _Cursor(data)
    assert data[:4] == b"GGUF", path
    c.pos = 8
    n_tensors = c.take("<Q")
    n_kv = c.take("<Q")
    kvs: list[KV] = []
    alignment = 32
    for _ in range(n_kv):
        key_len_off = c.pos
        key = c.string()
        type_off = c.pos
        vtype = c.take("<I")
        kv = KV(key, key_len_off, type_off, vtype, c.pos, 0)
        if vtype == STRING:
            kv.str_len_off = c.pos
            c.string()
        elif vtype == ARRAY:
            kv.item_type_off = c.pos
            kv.item_type = c.take("<I")
            kv.count_off = c.pos
            kv.count = c.take("<Q")
            if kv.item_type == STRING:
                for _ in range(kv.count):
                    c.string()
            else:
                c.pos += SCALAR_SIZES[kv.item_type] * kv.count
        else:
            value = struct.unpack_from(SCALAR_FORMATS[vtype], data, c.pos)[0]
            c.pos += SCALAR_SIZES[vtype]
            if key == "general.alignment":
                alignment = int(value)
        kv.end = c.pos
        kvs.append(kv)
    tensors: list[TensorInfo] = []
    for _ in range(n_tensors):
        name_len_off = c.pos
        name = c.string()
        n_dims_off = c.pos
        n_dims = c.take("<I")
        dim_offs = [c.pos + 8 * i for i in range(n_dims)]
        c.pos += 8 * n_dims
        type_off = c.pos
        c.pos += 4
        offset_off = c.pos
        c.pos += 8
        tensors.append(
            TensorInfo(name, name_len_off, n_dims_off, n_dims, dim_offs, type_off, offset_off, c.pos)
        )
    infos_end = c.pos
    data_start = (infos_end + alignment - 1) // alignment * alignment
    return Layout(
        path=path,
        file_size=path.stat().st_size,
        header=data[:data_start],
        kvs=kvs,
        tensors=tensors,
        infos_end=infos_end,
        data_start=data_start,
    )


def write_with_string(layout: Layout, key: str, value: str, dst: Path, alignment: int = 32) -> Path:
    """A copy of the seed with one string value replaced (a hostile chat template, say), the
    tensor data copied as is and realigned after the header that changed length."""
    kv = next(k for k in layout.kvs if k.key == key)
    assert kv.str_len_off is not None
    encoded = value.encode("utf-8")
    header = layout.header[: kv.str_len_off] + struct.pack("<Q", len(encoded)) + encoded
    header += layout.header[kv.end : layout.infos_end]
    header += b"\0" * (-len(header) % alignment)
    with dst.open("wb") as out, layout.path.open("rb") as src:
        out.write(header)
        src.seek(layout.data_start)
        while chunk := src.read(8 * 1024 * 1024):
            out.write(chunk)
    return dst
