"""What a GGUF model file says about itself, read with `gguf.GGUFReader`.

The planner needs sizes (bytes per layer, output and embedding tensors) and the attention
shape (heads, KV heads, key/value lengths, sliding-window layers) to predict what llama.cpp will
allocate. We read only the header: the file is memory-mapped and tensor data is never touched,
so a 40 GB model is inspected as fast as a small one.

Stock `GGUFReader` builds one numpy view per element of every metadata array; a 262k-token
vocabulary then costs seconds. `_HeaderReader` keeps the library's parsing but takes long arrays
in one step (numbers as one view, strings skipped over), which brings that down to milliseconds.
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
import sys
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFReader, GGUFValueType, LlamaFileType
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from app.core.errors import PlainError
from app.core.gguf_sizes import tensor_sizes
from app.core.i18n import number, translate, translate_noop

log = logging.getLogger(__name__)

GGUF_MAGIC_BYTES = b"GGUF"

# Arrays longer than this are read in bulk (tokenizer vocabularies, merges, scores).
_BULK_ARRAY = 64

# Architectures whose llama.cpp graph keeps no KV cache (encoders, diffusion models):
# `llama_model::create_memory` returns nullptr for them.
NO_KV_CACHE_ARCHS = frozenset(
    {
        "bert",
        "modern-bert",
        "nomic-bert",
        "nomic-bert-moe",
        "neo-bert",
        "jina-bert-v2",
        "jina-bert-v3",
        "eurobert",
        "gemma-embedding",
        "wavtokenizer-dec",
        "dream",
        "llada",
        "llada-moe",
        "rnd1",
    }
)

# Sliding-window layout per architecture, from llama.cpp's `load_swa_pattern(ml, n, dense_first)`
# calls (src/models/*.cpp). A `<arch>.attention.sliding_window_pattern` key in the file wins.
# n_pattern: with dense_first=False every n-th layer (the last of each group) is global;
# with dense_first=True the first of each group is.
_SWA_PATTERNS: dict[str, tuple[int, bool]] = {
    "gemma2": (2, False),
    "gemma3": (6, False),
    "gemma3n": (5, False),
    "cohere2": (4, False),
    "cohere2moe": (4, True),
    "exaone4": (4, False),
    "exaone-moe": (4, False),
    "olmo2": (4, False),
    "gpt-oss": (2, False),
    "llama4": (4, False),
    "smallthinker": (4, True),
    "afmoe": (4, False),
    "plamo3": (8, False),
}

# llama.cpp's LLAMA_MAX_LAYERS: more layers, and it stops on an assert while loading.
MAX_LAYERS = 512
# llama.cpp keeps the trained context in 32 bits; past that a number is damage, not a model.
MAX_CONTEXT = 2**31 - 1

_POOLING_NAMES = {0: "none", 1: "mean", 2: "cls", 3: "last", 4: "rank"}


class GGUFError(PlainError):
    """A model file we cannot use; the message is meant for the user as is."""


@dataclass(frozen=True)
class ModelFacts:
    path: Path
    file_size: int
    architecture: str
    name: str
    size_label: str | None
    quantization: str
    context_length: int
    block_count: int
    layer_bytes: tuple[int, ...]
    output_bytes: int  # output.* tensors; 0 when the model ties output to token_embd
    token_embd_bytes: int
    other_bytes: int  # norms, position embeddings, anything outside blk.N / output / token_embd
    head_count: tuple[int, ...]
    head_count_kv: tuple[int, ...]
    embedding_length: int
    key_length: int
    value_length: int
    sliding_window: int | None  # None when no layer uses a sliding window
    swa_layers: tuple[bool, ...]
    has_chat_template: bool
    chat_template: str | None
    is_embedding_model: bool
    pooling_type: str | None = None
    tied_embeddings: bool = False
    vocab_size: int = 0
    feed_forward_length: int = 0
    key_length_swa: int = 0  # 0 = same as key_length
    value_length_swa: int = 0
    has_kv_cache: bool = True
    tensor_bytes: int = 0  # all tensor data
    # Parameters of the layers' matrices (blk.N, 2-D and up: not the norms) per tensor type,
    # ("Q4_K", n), most first: a prompt's cost per type, since llama.cpp's kernels differ by type.
    matrix_params: tuple[tuple[str, int], ...] = ()
    # Bytes of matrices read for every generated token, per tensor type, most first: the
    # layers' matrices and the output matrix (token_embd when the model ties them). Writing's
    # cost per token, since llama.cpp's one-token kernels also differ by type.
    decode_bytes_by_type: tuple[tuple[str, int], ...] = ()

    @property
    def weights_bytes(self) -> int:
        return self.tensor_bytes


# The facts of files read lately, by (path, size, mtime): the window reads a model's header when
# it is opened, loaded and after each answer (speed/record.py); parsing a 262k-token vocabulary
# is ~45 ms of Python, and on a worker thread at an answer's end it held the GIL against the GUI
# thread (a 40-50 ms stall in bench_gui_stall.py). Facts are frozen, so sharing them is safe; a
# changed file has another size or mtime and is read again. Failures are not kept.
_CACHE_SIZE = 16
_cache: OrderedDict[tuple[str, int, int], ModelFacts] = OrderedDict()
_cache_lock = threading.Lock()


def read_model_facts(path: str | os.PathLike[str]) -> ModelFacts:
    """Read a GGUF header (or the facts read from it lately, when the file has not changed).
    Raises GGUFError (plain words) for anything unusable."""
    try:
        stat = os.stat(path)
        key: tuple[str, int, int] | None = (str(path), stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None  # _read_model_facts says why in plain words
    if key is not None:
        with _cache_lock:
            known = _cache.get(key)
            if known is not None:
                _cache.move_to_end(key)
                return known
    facts = _read_model_facts(path)
    if key is not None:
        with _cache_lock:
            _cache[key] = facts
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return facts


def _read_model_facts(path: str | os.PathLike[str]) -> ModelFacts:
    file = Path(path)
    file_size = _check_file(file)
    _check_counts(file, file_size)
    reader = _open_reader(file, file_size)
    try:
        return _facts_from_reader(file, file_size, reader)
    except GGUFError:
        raise
    except Exception as exc:  # a header that parses but holds nonsense (wrong types, ...)
        log.info("unusable GGUF header in %s: %r", file, exc)
        raise GGUFError(
            translate(
                "gguf_facts", "This model file is damaged: its description holds values that make no sense."
            )
        ) from None
    finally:
        del reader  # drop the memory map now, so Windows lets the user delete the file


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


class _Fields:
    """Typed access to metadata values, with per-architecture keys."""

    def __init__(self, reader: GGUFReader, arch: str) -> None:
        self._reader = reader
        self.arch = arch

    def raw(self, key: str) -> Any:
        field = self._reader.fields.get(key.replace("{arch}", self.arch))
        if field is None:
            return None
        if field.types and field.types[0] == GGUFValueType.ARRAY:
            return list(field.contents())
        return field.contents()

    def get_int(self, key: str, default: int = 0) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, list):
            return max((int(v) for v in value), default=default)
        return int(value)

    def get_str(self, key: str) -> str | None:
        value = self.raw(key)
        return value if isinstance(value, str) else None

    def per_layer(self, key: str, n_layer: int, default: int) -> tuple[int, ...]:
        """A value that may be one number or one per layer, always returned per layer."""
        value = self.raw(key)
        if value is None:
            return (default,) * n_layer
        if isinstance(value, list):
            values = [int(v) for v in value]
            if len(values) < n_layer:  # pad a short array with its last value
                values += [values[-1] if values else default] * (n_layer - len(values))
            return tuple(values[:n_layer])
        return (int(value),) * n_layer


def _facts_from_reader(file: Path, file_size: int, reader: GGUFReader) -> ModelFacts:
    arch_field = reader.fields.get("general.architecture")
    if arch_field is None:
        raise GGUFError(
            translate("gguf_facts", "This GGUF file does not say which model architecture it holds.")
        )
    arch = str(arch_field.contents())
    f = _Fields(reader, arch)
    n_layer = f.get_int("{arch}.block_count")
    if not 1 <= n_layer <= MAX_LAYERS:  # llama.cpp asserts 0 < n_layer <= LLAMA_MAX_LAYERS
        if f.raw("{arch}.block_count") is None:
            raise GGUFError(
                translate(
                    "gguf_facts", "This model file is damaged: it does not say how many layers the model has."
                )
            )
        raise GGUFError(
            translate(
                "gguf_facts", "This model file is damaged: it says the model has {layers} layers."
            ).format(layers=number(n_layer))
        )
    sizes = tensor_sizes(reader, n_layer)
    if sizes.total <= 0:
        raise GGUFError(translate("gguf_facts", "This model file is damaged or empty: it holds no weights."))
    n_embd = f.get_int("{arch}.embedding_length")
    head_count = f.per_layer("{arch}.attention.head_count", n_layer, 0)
    head_count_kv = _kv_heads(f, head_count, n_layer)
    first_heads = next((h for h in head_count if h), 0)
    default_head_dim = n_embd // first_heads if first_heads else 0
    key_length = f.get_int("{arch}.attention.key_length", default_head_dim)
    value_length = f.get_int("{arch}.attention.value_length", default_head_dim)
    window, swa_layers = _sliding_window(f, n_layer)
    template = f.get_str("tokenizer.chat_template")
    pooling = f.raw("{arch}.pooling_type")
    if pooling is not None and int(pooling) not in _POOLING_NAMES and int(pooling) != -1:
        # llama.cpp aborts on a pooling type it does not know when it builds the graph.
        raise GGUFError(
            translate(
                "gguf_facts",
                "This model file asks for a way of pooling embeddings (number {pooling}) that "
                "the engine does not know; it is damaged or made for a newer engine.",
            ).format(pooling=int(pooling))
        )
    pooling_name = _POOLING_NAMES.get(int(pooling)) if pooling is not None else None
    no_kv = arch in NO_KV_CACHE_ARCHS
    _check_epsilons(reader, arch)
    context_length = f.get_int("{arch}.context_length")
    if context_length > MAX_CONTEXT:
        raise GGUFError(
            translate(
                "gguf_facts", "This model file is damaged: it says the model reads {tokens} tokens at once."
            ).format(tokens=number(context_length))
        )
    return _checked(
        ModelFacts(
            path=file,
            file_size=file_size,
            architecture=arch,
            name=f.get_str("general.name") or file.stem,
            size_label=f.get_str("general.size_label"),
            quantization=_quantization(f, reader),
            context_length=context_length,
            block_count=n_layer,
            layer_bytes=sizes.layers,
            output_bytes=sizes.output,
            token_embd_bytes=sizes.token_embd,
            other_bytes=sizes.other,
            head_count=head_count,
            head_count_kv=head_count_kv,
            embedding_length=n_embd,
            key_length=key_length,
            value_length=value_length,
            sliding_window=window,
            swa_layers=swa_layers,
            has_chat_template=bool(template),
            chat_template=template or None,
            is_embedding_model=no_kv or pooling_name in ("mean", "cls", "last", "rank"),
            pooling_type=pooling_name,
            tied_embeddings=sizes.output == 0 and not no_kv,  # encoders have no output matrix
            vocab_size=sizes.vocab or _array_len(reader, "tokenizer.ggml.tokens"),
            feed_forward_length=f.get_int("{arch}.feed_forward_length"),
            key_length_swa=f.get_int("{arch}.attention.key_length_swa", key_length),
            value_length_swa=f.get_int("{arch}.attention.value_length_swa", value_length),
            has_kv_cache=not no_kv,
            tensor_bytes=sizes.total,
            matrix_params=sizes.matrix_params,
            decode_bytes_by_type=sizes.decode_bytes_by_type,
        )
    )


def _check_epsilons(reader: GGUFReader, arch: str) -> None:
    """llama.cpp's norms assert eps >= 0 while answering: a NaN or negative epsilon in the file
    would kill the engine at the first question."""
    prefix = f"{arch}."
    for key, field in reader.fields.items():
        if not key.startswith(prefix) or "epsilon" not in key or not field.types:
            continue
        if field.types[0] not in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64):
            continue
        value = float(field.contents())
        if not math.isfinite(value) or value < 0:
            raise GGUFError(
                translate(
                    "gguf_facts",
                    "This model file is damaged: one of its normalisation settings is not a valid number.",
                )
            )


# What a person calls the numbers a damaged header can get wrong.
_NUMBER_WORDS = {
    "context_length": translate_noop("gguf_facts", "context length"),
    "embedding_length": translate_noop("gguf_facts", "embedding size"),
    "head_count": translate_noop("gguf_facts", "number of attention heads"),
    "head_count_kv": translate_noop("gguf_facts", "number of key/value heads"),
    "key_length": translate_noop("gguf_facts", "key length"),
    "value_length": translate_noop("gguf_facts", "value length"),
    "sliding_window": translate_noop("gguf_facts", "sliding window"),
    "vocab_size": translate_noop("gguf_facts", "vocabulary size"),
    "feed_forward_length": translate_noop("gguf_facts", "feed-forward size"),
    "key_length_swa": translate_noop("gguf_facts", "key length"),
    "value_length_swa": translate_noop("gguf_facts", "value length"),
}


def _checked(facts: ModelFacts) -> ModelFacts:
    """Negative sizes come only from a damaged header; the planner must never see them."""
    for name, words in _NUMBER_WORDS.items():
        value = getattr(facts, name)
        values = value if isinstance(value, tuple) else (value,)
        if any(v is not None and v < 0 for v in values):
            raise GGUFError(
                translate("gguf_facts", "This model file is damaged: its {what} is negative.").format(
                    what=translate("gguf_facts", words)
                )
            )
    return facts


def _kv_heads(f: _Fields, head_count: tuple[int, ...], n_layer: int) -> tuple[int, ...]:
    if f.raw("{arch}.attention.head_count_kv") is None:
        return head_count  # no GQA: as many KV heads as query heads (llama.cpp's default)
    return f.per_layer("{arch}.attention.head_count_kv", n_layer, 0)


def _array_len(reader: GGUFReader, key: str) -> int:
    field = reader.fields.get(key)
    if field is None or not field.types or field.types[0] != GGUFValueType.ARRAY:
        return 0
    return int(field.parts[4][0])  # parts: key length, key, type, item type, count, ...


def _quantization(f: _Fields, reader: GGUFReader) -> str:
    file_type = f.raw("general.file_type")
    if file_type is not None:
        try:
            name = LlamaFileType(int(file_type)).name
        except ValueError:
            name = ""
        if name and name != "GUESSED":
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    # No (or unknown) file type: name it after the type holding most matrices, as a person
    # would ("mostly Q4_K"). 1-D tensors are norms kept in F32 whatever the quantization.
    counts = Counter(t.tensor_type.name for t in reader.tensors if len(t.shape) >= 2)
    if not counts:
        return "unknown"
    return counts.most_common(1)[0][0]


def _sliding_window(f: _Fields, n_layer: int) -> tuple[int | None, tuple[bool, ...]]:
    window = f.get_int("{arch}.attention.sliding_window")
    if window <= 0:
        return None, (False,) * n_layer
    pattern = f.raw("{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, list):
        flags = [bool(v) for v in pattern[:n_layer]]
        layers = tuple(flags + [False] * (n_layer - len(flags)))
    elif f.arch in _SWA_PATTERNS:
        n_pattern, dense_first = _SWA_PATTERNS[f.arch]
        if pattern is not None:
            n_pattern = int(pattern)
        layers = tuple(_is_swa(il, n_pattern, dense_first) for il in range(n_layer))
    else:
        # The file names a window but llama.cpp does not use it for this architecture
        # (e.g. phi3): every layer attends to the whole context.
        layers = (False,) * n_layer
    if not any(layers):
        return None, layers
    return window, layers


def _is_swa(il: int, n_pattern: int, dense_first: bool) -> bool:
    """llama_hparams::set_swa_pattern."""
    if n_pattern == 0:
        return True
    if dense_first:
        return il % n_pattern != 0
    return il % n_pattern < n_pattern - 1


def _human(n_bytes: int) -> str:
    for unit, size in (
        (translate_noop("gguf_facts", "{size} GB"), 1024**3),
        (translate_noop("gguf_facts", "{size} MB"), 1024**2),
        (translate_noop("gguf_facts", "{size} KB"), 1024),
    ):
        if n_bytes >= size:
            return translate("gguf_facts", unit).format(size=number(n_bytes / size, 1))
    return translate("gguf_facts", "{count} bytes").format(count=n_bytes)
