"""Seeded mutations of real GGUF headers: each case breaks one or a few fields the way a bad
download, a buggy converter or a hostile file would (counts, lengths, type tags, values, tensor
infos, truncation, flipped or spliced bytes).

A case is fully determined by (seed file, case number), so a failure found once can be rerun
alone. Only the header is written for real; the tensor data after it is a sparse hole of the
right size (zeros, no disk writes), which keeps a case to a few milliseconds. Load cases can
ask for the seed's real tensor data instead.
"""

from __future__ import annotations

import random
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.gguf_layout import (
    ARRAY,
    FLOAT32,
    FLOAT64,
    SCALAR_FORMATS,
    SCALAR_SIZES,
    STRING,
    Layout,
)

U64_EDGES = [0, 1, 2**31, 2**32, 2**32 - 1, 2**63, 2**64 - 1, 2**62 + 7]
U32_EDGES = [0, 1, 2**31, 2**32 - 1, 0x7FFFFFFF, 65535, 4096]

# Keys whose values llama.cpp divides by, sizes arrays with, or loops over.
SEMANTIC_KEYS = [
    "block_count",
    "attention.head_count",
    "attention.head_count_kv",
    "embedding_length",
    "context_length",
    "attention.key_length",
    "attention.value_length",
    "feed_forward_length",
    "attention.sliding_window",
    "vocab_size",
    "general.file_type",
    "general.alignment",
    "rope.dimension_count",
    "rope.freq_base",
    "attention.layer_norm_rms_epsilon",
    "attention.layer_norm_epsilon",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.unknown_token_id",
    "pooling_type",
    "expert_count",
]
SEMANTIC_VALUES = [0, 1, 2, 3, 7, 1000, 513, 2**16, 2**31 - 1, 2**32 - 1, -1, -(2**31), 2**63 - 1]
ARCHS = ["llama", "bert", "gemma3", "qwen2", "mamba", "t5", "nonsense-arch", "", "gemma3\x00x", "A" * 300]


@dataclass
class Case:
    seed: str
    number: int
    what: list[str]
    header: bytes
    size: int  # the whole file's size (header + data, or where it is cut)

    def write(self, path: Path, real_data_from: Layout | None = None) -> Path:
        with path.open("wb") as out:
            out.write(self.header[: self.size])
            if real_data_from is not None and self.size > len(self.header):
                with real_data_from.path.open("rb") as src:
                    src.seek(real_data_from.data_start)
                    shutil.copyfileobj(src, out, 8 * 1024 * 1024)
            out.truncate(self.size)  # a sparse hole where no data was written
        return path

    @property
    def label(self) -> str:
        return f"{self.seed}#{self.number}: {'; '.join(self.what)}"


class _Editor:
    def __init__(self, layout: Layout, rng: random.Random) -> None:
        self.layout = layout
        self.rng = rng
        self.data = bytearray(layout.header)
        self.size = layout.file_size
        self.what: list[str] = []
        self.shift = 0  # bytes inserted (+) or removed (-) so far; later offsets move

    def put(self, offset: int, fmt: str, value: object) -> None:
        at = offset + (self.shift if offset >= self._splice_at else 0)
        if 0 <= at <= len(self.data) - struct.calcsize(fmt):  # a splice may have moved it away
            struct.pack_into(fmt, self.data, at, value)

    _splice_at = 1 << 62

    def splice(self, offset: int, remove: int, insert: bytes) -> None:
        start = offset + (self.shift if offset >= self._splice_at else 0)
        self.data[start : start + remove] = insert
        delta = len(insert) - remove
        self.shift += delta
        self.size += delta
        self._splice_at = min(self._splice_at, offset)

    # ---- the mutations ------------------------------------------------------------------
    def version(self) -> None:
        value = self.rng.choice([0, 1, 2, 4, 999, 2**32 - 1, self.rng.getrandbits(32)])
        self.put(4, "<I", value)
        self.what.append(f"version={value}")

    def n_tensors(self) -> None:
        n = len(self.layout.tensors)
        value = self.rng.choice([0, n - 1, n + 1, n * 2, self.rng.getrandbits(32), *U64_EDGES])
        self.put(8, "<Q", max(0, value))
        self.what.append(f"n_tensors={value}")

    def n_kv(self) -> None:
        n = len(self.layout.kvs)
        value = self.rng.choice([0, n - 1, n + 1, n + 50, self.rng.getrandbits(32), *U64_EDGES])
        self.put(16, "<Q", max(0, value))
        self.what.append(f"n_kv={value}")

    def key_length(self) -> None:
        kv = self.rng.choice(self.layout.kvs)
        value = self.rng.choice([0, len(kv.key) + 1, len(kv.key) - 1, 2**63, 2**64 - 1, 2**20])
        self.put(kv.key_len_off, "<Q", max(0, value))
        self.what.append(f"key {kv.key!r} length={value}")

    def value_type(self) -> None:
        kv = self.rng.choice(self.layout.kvs)
        value = self.rng.choice([*range(13), 13, 99, 2**32 - 1])
        self.put(kv.type_off, "<I", value)
        self.what.append(f"{kv.key} type {kv.vtype}->{value}")

    def string_length(self) -> None:
        kvs = [k for k in self.layout.kvs if k.str_len_off is not None]
        kv = self.rng.choice(kvs)
        assert kv.str_len_off is not None
        value = self.rng.choice([0, 1, 2**63, 2**64 - 1, 2**32, 10**9, self.rng.getrandbits(24)])
        self.put(kv.str_len_off, "<Q", value)
        self.what.append(f"{kv.key} string length={value}")

    def array_item_type(self) -> None:
        kv = self.rng.choice([k for k in self.layout.kvs if k.vtype == ARRAY])
        assert kv.item_type_off is not None
        value = self.rng.choice([*range(13), 9, 13, 2**32 - 1])
        self.put(kv.item_type_off, "<I", value)
        self.what.append(f"{kv.key} item type {kv.item_type}->{value}")

    def array_count(self) -> None:
        kv = self.rng.choice([k for k in self.layout.kvs if k.vtype == ARRAY])
        assert kv.count_off is not None
        value = self.rng.choice([0, 1, kv.count - 1, kv.count + 1, kv.count * 4, *U64_EDGES])
        self.put(kv.count_off, "<Q", max(0, value))
        self.what.append(f"{kv.key} count {kv.count}->{value}")

    def scalar_value(self) -> None:
        kvs = [k for k in self.layout.kvs if k.vtype in SCALAR_SIZES]
        kv = self.rng.choice(kvs)
        self._set_scalar(kv.value_off, kv.vtype, self._hostile_value(kv.vtype))
        self.what.append(f"{kv.key} value changed")

    def semantic(self) -> None:
        keys = [
            k
            for k in self.layout.kvs
            if k.vtype in SCALAR_SIZES and any(k.key.endswith(s) for s in SEMANTIC_KEYS)
        ]
        if not keys:
            return self.scalar_value()
        kv = self.rng.choice(keys)
        if kv.vtype in (FLOAT32, FLOAT64):
            value: object = self.rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e30, 1e-30])
        else:
            value = self.rng.choice(SEMANTIC_VALUES)
        self._set_scalar(kv.value_off, kv.vtype, value)
        self.what.append(f"{kv.key}={value}")

    def per_layer_array(self) -> None:
        """Per-layer arrays (head counts, SWA pattern) with the wrong length or values."""
        kvs = [k for k in self.layout.kvs if k.vtype == ARRAY and k.item_type != STRING and k.count < 10_000]
        if not kvs:
            return self.semantic()
        kv = self.rng.choice(kvs)
        assert kv.item_type is not None and kv.count_off is not None
        size = SCALAR_SIZES[kv.item_type]
        for i in range(min(kv.count, 8)):
            self._set_scalar(kv.count_off + 8 + i * size, kv.item_type, self._hostile_value(kv.item_type))
        self.what.append(f"{kv.key} items changed")

    def architecture(self) -> None:
        kv = self.layout.kv("general.architecture")
        if kv is None or kv.str_len_off is None:
            return self.value_type()
        new = self.rng.choice(ARCHS).encode("utf-8")
        self.splice(kv.str_len_off, kv.end - kv.str_len_off, struct.pack("<Q", len(new)) + new)
        self.what.append(f"architecture={new[:20]!r}")

    def tensor_name_length(self) -> None:
        t = self.rng.choice(self.layout.tensors)
        value = self.rng.choice([0, len(t.name) + 1, len(t.name) - 1, 2**63, 2**64 - 1, 65])
        self.put(t.name_len_off, "<Q", max(0, value))
        self.what.append(f"tensor {t.name} name length={value}")

    def tensor_n_dims(self) -> None:
        t = self.rng.choice(self.layout.tensors)
        value = self.rng.choice([0, 1, t.n_dims + 1, 4, 5, 255, 2**32 - 1])
        self.put(t.n_dims_off, "<I", value)
        self.what.append(f"tensor {t.name} n_dims {t.n_dims}->{value}")

    def tensor_dim(self) -> None:
        t = self.rng.choice(self.layout.tensors)
        i = self.rng.randrange(t.n_dims)
        value = self.rng.choice([0, 1, 2, 3, 31, 33, 2**20, 2**32, 2**40, 2**63, 2**64 - 1])
        self.put(t.dim_offs[i], "<Q", value)
        self.what.append(f"tensor {t.name} dim[{i}]={value}")

    def tensor_type(self) -> None:
        t = self.rng.choice(self.layout.tensors)
        value = self.rng.choice([*range(0, 42), 4, 5, 39, 40, 41, 99, 2**31, 2**32 - 1])
        self.put(t.type_off, "<I", value)
        self.what.append(f"tensor {t.name} type={value}")

    def tensor_offset(self) -> None:
        t = self.rng.choice(self.layout.tensors)
        value = self.rng.choice(
            [0, 1, 16, 31, 2**40, 2**63, 2**64 - 1, self.layout.file_size, self.rng.getrandbits(28)]
        )
        self.put(t.offset_off, "<Q", value)
        self.what.append(f"tensor {t.name} offset={value}")

    def drop_tensor(self) -> None:
        t = self.rng.choice(self.layout.tensors)
        self.splice(t.name_len_off, t.end - t.name_len_off, b"")
        self.put(8, "<Q", len(self.layout.tensors) - 1)
        self.what.append(f"tensor {t.name} removed")

    def rename_tensor(self) -> None:
        t = self.rng.choice(self.layout.tensors)
        new = self.rng.choice(
            [
                "blk.999.attn_q.weight",
                "output.weight",
                "token_embd.weight",
                "blk.x.y",
                "",
                self.rng.choice(self.layout.tensors).name,
                "é" * 40,
            ]
        ).encode("utf-8")
        self.splice(t.name_len_off, 8 + len(t.name.encode("utf-8")), struct.pack("<Q", len(new)) + new)
        self.what.append(f"tensor {t.name} renamed {new[:24]!r}")

    def rename_key(self) -> None:
        kv = self.rng.choice(self.layout.kvs)
        other = self.rng.choice(self.layout.kvs).key
        new = self.rng.choice([other, "", "x" * 70, kv.key.upper(), kv.key + "."]).encode("utf-8")
        self.splice(kv.key_len_off, 8 + len(kv.key.encode("utf-8")), struct.pack("<Q", len(new)) + new)
        self.what.append(f"key {kv.key} renamed {new[:30]!r}")

    def truncate(self) -> None:
        header_end = len(self.layout.header)
        where = self.rng.choice(["header", "header", "infos", "data"])
        if where == "header":
            cut = self.rng.randrange(0, header_end)
        elif where == "infos":
            first = self.layout.tensors[0].name_len_off
            cut = self.rng.randrange(first, header_end)
        else:
            cut = self.rng.randrange(header_end, self.layout.file_size)
        self.size = min(self.size, cut)
        self.what.append(f"cut at {cut} of {self.layout.file_size}")

    def flip_bytes(self) -> None:
        n = self.rng.choice([1, 1, 2, 4, 16, 64])
        area = self.rng.choice(["start", "kv", "infos"])
        for _ in range(n):
            if area == "start":
                pos = self.rng.randrange(4, min(4096, len(self.data)))
            elif area == "infos":
                pos = self.rng.randrange(self.layout.tensors[0].name_len_off, self.layout.infos_end)
            else:
                pos = self.rng.randrange(24, self.layout.tensors[0].name_len_off)
            self.data[pos] ^= 1 << self.rng.randrange(8)
        self.what.append(f"{n} bits flipped ({area})")

    def splice_random(self) -> None:
        pos = self.rng.randrange(24, self.layout.infos_end)
        if self.rng.random() < 0.5:
            n = self.rng.choice([1, 3, 8, 100])
            self.splice(pos, n, b"")
            self.what.append(f"{n} bytes removed at {pos}")
        else:
            junk = self.rng.randbytes(self.rng.choice([1, 4, 8, 100]))
            self.splice(pos, 0, junk)
            self.what.append(f"{len(junk)} bytes inserted at {pos}")

    # ---- helpers ------------------------------------------------------------------------
    def _hostile_value(self, vtype: int) -> object:
        if vtype in (FLOAT32, FLOAT64):
            return self.rng.choice([0.0, -1.0, float("nan"), float("inf"), -float("inf"), 3.4e38])
        bits = SCALAR_SIZES[vtype] * 8
        signed = SCALAR_FORMATS[vtype][1].islower()
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        if SCALAR_FORMATS[vtype] == "<?":
            return self.rng.choice([True, False])
        return self.rng.choice([low, high, 0, 1, min(high, 1000), self.rng.randint(low, high)])

    def _set_scalar(self, offset: int, vtype: int, value: object) -> None:
        fmt = SCALAR_FORMATS[vtype]
        if fmt == "<?":
            self.put(offset, "<B", self.rng.choice([0, 1, 2, 255]))
            return
        if fmt in ("<f", "<d"):
            self.put(offset, fmt, float(value))  # type: ignore[arg-type]
            return
        bits = SCALAR_SIZES[vtype] * 8
        number = int(value)  # type: ignore[call-overload]
        if fmt[1].islower():  # signed: wrap into range
            number = (number + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)
        else:
            number %= 2**bits
        self.put(offset, fmt, number)


MUTATIONS: list[tuple[str, int]] = [
    ("version", 2),
    ("n_tensors", 4),
    ("n_kv", 4),
    ("key_length", 5),
    ("value_type", 8),
    ("string_length", 6),
    ("array_item_type", 4),
    ("array_count", 6),
    ("scalar_value", 8),
    ("semantic", 16),
    ("per_layer_array", 3),
    ("architecture", 5),
    ("tensor_name_length", 4),
    ("tensor_n_dims", 5),
    ("tensor_dim", 8),
    ("tensor_type", 8),
    ("tensor_offset", 6),
    ("drop_tensor", 3),
    ("rename_tensor", 4),
    ("rename_key", 4),
    ("truncate", 8),
    ("flip_bytes", 8),
    ("splice_random", 4),
]


def make_case(layout: Layout, seed_name: str, number: int) -> Case:
    rng = random.Random(f"{seed_name}/{number}")
    editor = _Editor(layout, rng)
    names = [name for name, _ in MUTATIONS]
    weights = [weight for _, weight in MUTATIONS]
    how_many = rng.choice([1, 1, 1, 2, 3])
    # Mutations are applied in file order of what they touch only loosely; a splice moves
    # later offsets, which the editor accounts for.
    for name in rng.choices(names, weights, k=how_many):
        mutate: Callable[[], None] = getattr(editor, name)
        mutate()
    return Case(seed_name, number, editor.what, bytes(editor.data), max(0, editor.size))
