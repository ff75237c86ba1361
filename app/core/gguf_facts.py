"""What a GGUF model file says about itself, read with `gguf.GGUFReader`.

The planner needs sizes (bytes per layer, output and embedding tensors) and the attention
shape (heads, KV heads, key/value lengths, sliding-window layers) to predict what llama.cpp will
allocate. We read only the header: the file is memory-mapped and tensor data is never touched,
so a 40 GB model is inspected as fast as a small one.

Opening the file safely (checks before parsing, a header reader that takes long arrays in one
step) is gguf_open.py; adding up the tensors is gguf_sizes.py; this module turns the header's
fields into `ModelFacts` and keeps the facts of files read lately.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gguf import GGUFReader, GGUFValueType, LlamaFileType

from app.core.gguf_open import GGUFError, open_checked
from app.core.gguf_sizes import tensor_sizes
from app.core.i18n import number, translate, translate_noop

log = logging.getLogger(__name__)

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
    file_size, reader = open_checked(file)
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
