"""The model skeletons the GPU machine checks run on (tests/device/gguf_skeleton.py): what the
planner and llama.cpp see must be the real model's, only the weights' values are not."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from app.core.gguf_facts import read_model_facts
from app.core.model_memory import estimate_for_layers
from tests.device import gguf_skeleton


def test_a_skeleton_has_the_real_models_facts_and_loads(instruct_model_path: Path, tmp_path: Path) -> None:
    gguf_skeleton.pack(instruct_model_path, tmp_path / "pack")
    carried = sum(f.stat().st_size for f in (tmp_path / "pack").iterdir())
    assert carried < 0.05 * instruct_model_path.stat().st_size  # what travels: a few MB of 98
    skeleton = gguf_skeleton.unpack(tmp_path / "pack", tmp_path / "skeleton.gguf")
    real, copy = read_model_facts(instruct_model_path), read_model_facts(skeleton)
    assert skeleton.stat().st_size == instruct_model_path.stat().st_size
    assert dataclasses.replace(copy, path=real.path) == real  # every fact but the file's name
    assert estimate_for_layers(copy, 4096, 31) == estimate_for_layers(real, 4096, 31)
    assert skeleton.read_bytes() != instruct_model_path.read_bytes()  # the weights are tiled

    meta = json.loads((tmp_path / "pack" / "meta.json").read_text())
    assert meta["zero_rows"]["rows"], "ChatML's <|im_end|> and the eos token are end-of-generation"

    from llama_cpp import Llama

    from app.core.engine.backends import require_cpu_backend

    require_cpu_backend()
    llm = Llama(str(skeleton), n_ctx=256, verbose=False)
    try:
        out = llm.create_completion("Once upon a time", max_tokens=16, temperature=0.0)
        # Gibberish, but all 16 tokens: no end-of-generation token can win the greedy pick.
        assert out["usage"]["completion_tokens"] == 16 and out["choices"][0]["finish_reason"] == "length"
    finally:
        llm.close()
