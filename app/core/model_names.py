"""A model's name as a person reads it: "SmolLM2 135M Instruct", not the file's raw
"SmolLM2-135M-Instruct.Q4_1.gguf" nor the metadata's "Smollm2 135M 8k Lc100K Mix1 Ep2" (GGUF
`general.name` is often a training run's label). Built from the file name, which publishers
choose for people; the quantization goes behind "Details"."""

from __future__ import annotations

import re
from pathlib import Path

# Quantization and precision tags as publishers put them in file names (Q4_K_M, IQ3_XS, Q8_0,
# f16, bf16, fp16...), optionally with an "UD-"/"i1-" style prefix.
_QUANT = re.compile(
    r"(?:[-_.](?:ud|i1|imat|imatrix))?[-_.]"
    r"(?:i?q\d(?:_[a-z0-9]+)*|f16|f32|bf16|fp16|fp32|mxfp4)"
    r"(?:[-_.].*)?$",
    re.IGNORECASE,
)
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


def display_name(path: Path | str) -> str:
    """'Qwen2.5-7B-Instruct-Q4_K_M.gguf' -> 'Qwen2.5 7B Instruct'."""
    stem = Path(path).name
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    stem = _SHARD.sub("", stem)
    stem = _QUANT.sub("", stem) or stem
    words = [w for w in re.split(r"[-_ ]+", stem) if w]
    return " ".join(words) or Path(path).name
