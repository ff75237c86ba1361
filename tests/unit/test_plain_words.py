"""The plain words the pages show instead of tokens and quantization names."""

from __future__ import annotations

import pytest

from app.core.plain_words import context_words, quality_of, quant_in_name, seconds_text, speed_text


@pytest.mark.parametrize(
    ("name", "quant", "quality"),
    [
        ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Q4_K_M", "good"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1", "good"),
        ("Llama-3.2-3B-Instruct-IQ3_XS.gguf", "IQ3_XS", "fair"),
        ("all-MiniLM-L6-v2-Q8_0.gguf", "Q8_0", "near original"),
        ("Qwen2.5-7B-Instruct-f16-00001-of-00002.gguf", "F16", "original"),
        ("gemma-3-270m.gguf", None, ""),
    ],
)
def test_quality_from_a_file_name(name: str, quant: str | None, quality: str) -> None:
    assert quant_in_name(name) == quant
    assert quality_of(quant) == quality


def test_numbers_in_words() -> None:
    assert speed_text(41.2) == "about 31 words a second"
    assert speed_text(1.1) == "about 0.8 words a second"
    assert seconds_text(7.927) == "7.9 s" and seconds_text(65) == "1 min 5 s"
    assert context_words(8192) == "about 6,100 words (8,192 tokens)"
