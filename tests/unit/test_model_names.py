"""Model names as people read them, from the file names publishers give."""

from __future__ import annotations

import pytest

from app.core.model_names import display_name


@pytest.mark.parametrize(
    ("file_name", "shown"),
    [
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2 135M Instruct"),
        ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Qwen2.5 7B Instruct"),
        ("Llama-3.2-3B-Instruct-Q4_K_M.gguf", "Llama 3.2 3B Instruct"),
        ("gemma-3-270m-it-Q8_0.gguf", "gemma 3 270m it"),
        ("Mistral-7B-Instruct-v0.3-Q5_K_M.gguf", "Mistral 7B Instruct v0.3"),
        ("phi-4-mini-instruct-IQ4_XS.gguf", "phi 4 mini instruct"),
        ("Qwen3-30B-A3B-UD-Q4_K_XL-00001-of-00002.gguf", "Qwen3 30B A3B"),
        ("all-MiniLM-L6-v2-Q8_0.gguf", "all MiniLM L6 v2"),
        ("model-f16.gguf", "model"),
        ("weird.gguf", "weird"),
    ],
)
def test_display_names(file_name: str, shown: str) -> None:
    assert display_name(file_name) == shown
