"""A model's skeleton, small enough to travel to the GPU machine (which has no network and takes
64 MiB of files): the GGUF header verbatim (architecture, tokenizer, chat template, tensor list)
and the first few kilobytes of each tensor's real data. Rebuilt there, every tensor is its own
real blocks tiled to its full length, so the file has the real model's shapes, quantization types
and sizes — the same llama.cpp buffers, the same memory traffic per token, the same speed — but
its answers are gibberish. Good for what the planner and the decode loop do on a GPU; useless
for anything that depends on the text (speculative acceptance, quality).

The end-of-generation tokens' output rows are zeroed so that a greedy answer never ends early
(their logit is 0 while the largest of the others is not): a speed run gets all its tokens.

    python tests/device/gguf_skeleton.py pack MODEL.gguf PACK_DIR   # here: needs gguf-py
    python tests/device/gguf_skeleton.py unpack PACK_DIR OUT.gguf   # there: stdlib only
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

SAMPLE_BYTES = 8192
CONTROL_TOKEN = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL in tokenizer.ggml.token_type
EOG_TEXTS = {"<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<eos>", "<|eot_id|>", "</s>"}


def pack(source: Path, out_dir: Path) -> None:
    import gguf  # here only: the GPU machine rebuilds with the standard library

    reader = gguf.GGUFReader(str(source))
    tensors = sorted(reader.tensors, key=lambda t: int(t.data_offset))
    header_end = int(tensors[0].data_offset)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = source.read_bytes()
    samples = bytearray()
    entries = []
    for t in tensors:
        block, type_size = gguf.GGML_QUANT_SIZES[t.tensor_type]
        n_bytes = int(t.n_bytes)
        keep = min(n_bytes, max(type_size, SAMPLE_BYTES // type_size * type_size))
        start = int(t.data_offset)
        entries.append({"name": t.name, "offset": start, "n_bytes": n_bytes, "sample": len(samples),
                        "sample_len": keep, "row_bytes": int(t.shape[0]) // block * type_size})
        samples += raw[start:start + keep]
    tokens = _field(reader, "tokenizer.ggml.tokens")
    eog = {i for i, text in enumerate(tokens if isinstance(tokens, list) else []) if text in EOG_TEXTS}
    # Control tokens too (Gemma's <start_of_turn> ends a turn through the chat format's stop
    # strings; a skeleton stopped after 86 of 128 tokens without this).
    types = _field(reader, "tokenizer.ggml.token_type")
    if isinstance(types, list):
        eog |= {i for i, kind in enumerate(types) if kind == CONTROL_TOKEN}
    eos = _field(reader, "tokenizer.ggml.eos_token_id")
    if isinstance(eos, int):
        eog.add(eos)
    names = {e["name"] for e in entries}
    output = "output.weight" if "output.weight" in names else "token_embd.weight"
    meta = {"file_size": len(raw), "header_len": header_end, "tensors": entries,
            "zero_rows": {"tensor": output, "rows": sorted(eog)}}
    (out_dir / "header.bin.gz").write_bytes(gzip.compress(raw[:header_end], 6))
    (out_dir / "samples.bin.gz").write_bytes(gzip.compress(bytes(samples), 6))
    (out_dir / "meta.json").write_text(json.dumps(meta))


def _field(reader: object, key: str) -> object:
    field = reader.get_field(key)  # type: ignore[attr-defined]
    if field is None:
        return None
    if len(field.data) == 1 and field.types[0].name != "ARRAY":
        return int(field.parts[field.data[0]][0])
    values = [field.parts[i] for i in field.data]
    if values and getattr(values[0], "dtype", None) is not None and values[0].dtype.kind in "iu":
        return [int(v[0]) for v in values]
    return [bytes(v).decode("utf-8", "replace") for v in values]


def unpack(pack_dir: Path, out: Path) -> Path:
    meta = json.loads((pack_dir / "meta.json").read_text())
    header = gzip.decompress((pack_dir / "header.bin.gz").read_bytes())
    samples = gzip.decompress((pack_dir / "samples.bin.gz").read_bytes())
    zero = meta["zero_rows"]
    with out.open("wb") as f:
        f.truncate(meta["file_size"])  # alignment padding between tensors stays zero
        f.write(header)
        for t in meta["tensors"]:
            sample = samples[t["sample"]:t["sample"] + t["sample_len"]]
            data = bytearray(sample * (t["n_bytes"] // len(sample) + 1))[: t["n_bytes"]]
            if t["name"] == zero["tensor"]:
                for row in zero["rows"]:
                    data[row * t["row_bytes"]:(row + 1) * t["row_bytes"]] = bytes(t["row_bytes"])
            f.seek(t["offset"])
            f.write(data)
    return out


if __name__ == "__main__":
    verb, a, b = sys.argv[1:4]
    if verb == "pack":
        pack(Path(a), Path(b))
    else:
        unpack(Path(a), Path(b))
