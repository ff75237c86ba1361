"""The compact KV cache (q8_0 with flash attention, planner.py) loads and answers for real, and
the answer starts as the f16 cache's does ("answers stay practically the same")."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.engine import protocol as p
from tests.e2e.test_decode_loop import make_host

pytestmark = pytest.mark.e2e

QUESTION = [{"role": "user", "content": "Write one sentence about dogs."}]


def _answer(model: Path, folder: Path, kv_type: str) -> tuple[str, int]:
    folder.mkdir()
    host, _conn = make_host(folder)
    loaded = host.load(p.LoadRequest(str(model), n_ctx=2048, kv_type=kv_type))
    assert isinstance(loaded, p.Loaded), loaded
    try:
        done = host.chat(p.ChatRequest(QUESTION, p.SamplingParams(temperature=0.0, max_tokens=24)))
        assert isinstance(done, p.ChatDone), done
        return done.text, int(host.chat_llm.context_params.type_k)
    finally:
        host.unload()


def test_a_q8_0_kv_cache_loads_and_answers_like_f16(instruct_model_path: Path, tmp_path: Path) -> None:
    from app.core.planner import GGML_TYPE_IDS

    compact, type_k = _answer(instruct_model_path, tmp_path / "q8_0", "q8_0")
    full, _ = _answer(instruct_model_path, tmp_path / "f16", "f16")
    assert type_k == GGML_TYPE_IDS["q8_0"]
    assert compact.split()[:10] == full.split()[:10], (compact, full)
