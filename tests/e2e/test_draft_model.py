"""Speculative decoding with a draft model (app/core/engine/draft_model.py), real models: SmolLM2
drafting for itself (the same tokenizer, so its drafts are mostly accepted), Gemma 3 refused as
SmolLM2's draft (another vocabulary), a damaged draft file refused in plain words, and the KV
caches left as the one-token loop leaves them."""

from __future__ import annotations

import os.path
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.engine import protocol as p
from app.core.engine.draft_model import DraftModel
from app.core.engine.host import HostEngine
from tests.e2e.test_decode_loop import Recorder, make_host
from tests.e2e.test_prompt_lookup import QUOTE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pair(
    instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HostEngine, HostEngine, Recorder]]:
    """A plain SmolLM2 host and one with SmolLM2 as its own draft model."""
    plain, _ = make_host(tmp_path_factory.mktemp("plain"))
    drafted, conn = make_host(tmp_path_factory.mktemp("drafted"))
    assert isinstance(plain.load(p.LoadRequest(str(instruct_model_path), n_ctx=1024)), p.Loaded)
    loaded = drafted.load(
        p.LoadRequest(str(instruct_model_path), n_ctx=1024, draft_model_path=str(instruct_model_path))
    )
    assert isinstance(loaded, p.Loaded) and loaded.notice_sentence is None, loaded
    assert drafted.draft_llm is not None
    yield plain, drafted, conn
    plain.unload()
    drafted.unload()
    assert drafted.draft_llm is None


def ask(host: HostEngine, messages: list[dict[str, Any]], temperature: float = 0.0,
        max_tokens: int = 80, seed: int = 7) -> p.ChatDone:
    host.chat_llm.reset()
    sampling = p.SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
    done = host.chat(p.ChatRequest(messages, sampling))
    assert isinstance(done, p.ChatDone), done
    return done


def test_a_draft_model_drafts_the_answer_and_the_text_is_the_models_own(pair: Any) -> None:
    plain, drafted, conn = pair
    alone = ask(plain, QUOTE)
    conn.sent.clear()
    helped = ask(drafted, QUOTE)
    counts = drafted.last_drafter
    assert isinstance(counts, DraftModel)
    # The same model drafting greedily: nearly every draft token is what the model samples.
    assert counts.batches >= 5 and counts.accepted >= 0.7 * counts.proposed, vars(counts)
    assert conn.streamed() == helped.text
    # A batch rounds differently from one token in llama.cpp's CPU kernels, so a near-tie
    # could flip a token on another CPU: the check is on a long shared start.
    assert len(os.path.commonprefix([alone.text, helped.text])) >= 40, (alone.text, helped.text)


def test_drafts_at_temperature_are_checked_by_sampling(pair: Any) -> None:
    """At temperature 0.7 each position is sampled as the one-token loop would sample it; the
    same model drafting greedily still gets many of its drafts accepted."""
    _plain, drafted, _conn = pair
    done = ask(drafted, QUOTE, temperature=0.7)
    counts = drafted.last_drafter
    assert done.text.strip() and counts.accepted > 0, vars(counts)


def test_both_caches_are_left_as_the_one_token_loop_leaves_them(pair: Any) -> None:
    _plain, drafted, _conn = pair
    first = ask(drafted, QUOTE, max_tokens=20)
    assert first.stats.finish_reason == "length" and drafted.last_drafter.accepted > 0
    llm = drafted.chat_llm
    assert llm.n_tokens == first.stats.prompt_tokens + first.stats.generated_tokens - 1
    # The draft model's cache holds the conversation up to the last draft it wrote.
    draft = drafted.draft_llm
    assert first.stats.prompt_tokens < draft.n_tokens <= llm.n_tokens + drafted.last_drafter.max_draft
    follow = [*QUOTE, {"role": "assistant", "content": first.text},
              {"role": "user", "content": "Now the last sentence only."}]
    second = drafted.chat(p.ChatRequest(follow, p.SamplingParams(temperature=0.0, max_tokens=30)))
    assert isinstance(second, p.ChatDone) and second.text.strip()
    assert drafted.last_drafter.batches > 0


def test_a_draft_model_of_another_family_is_refused_and_answers_come_without_it(
    instruct_model_path: Path, chat_model_path: Path, tmp_path: Path
) -> None:
    host, _conn = make_host(tmp_path)
    request = p.LoadRequest(str(instruct_model_path), n_ctx=512, draft_model_path=str(chat_model_path))
    loaded = host.load(request)
    try:
        assert isinstance(loaded, p.Loaded) and host.draft_llm is None
        assert loaded.notice_sentence is not None
        assert "does not share this model's vocabulary" in loaded.notice
        assert os.path.basename(chat_model_path) in loaded.notice
        done = ask(host, QUOTE, max_tokens=12)
        assert done.text.strip() and host.last_drafter is None
    finally:
        host.unload()


def test_a_damaged_draft_file_is_refused_in_plain_words(instruct_model_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "draft.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    host, _conn = make_host(tmp_path)
    loaded = host.load(p.LoadRequest(str(instruct_model_path), n_ctx=512, draft_model_path=str(broken)))
    try:
        assert isinstance(loaded, p.Loaded) and host.draft_llm is None
        assert loaded.notice == "The draft model draft.gguf could not be read, so answers come without it."
        assert ask(host, QUOTE, max_tokens=8).text.strip()
    finally:
        host.unload()


def test_the_loader_places_a_draft_model_only_where_it_fits(
    instruct_model_path: Path, tmp_path: Path
) -> None:
    """Through load_model (the window's, the CLI's and the API's path): with room in RAM the draft
    model drafts; with RAM for the chat model alone it is left out and the notice says why,
    rather than the computer running out of memory."""
    from app.core.engine.client import EngineClient
    from app.core.engine.loader import load_model
    from app.core.gguf_facts import read_model_facts
    from app.core.hardware import HardwareInfo
    from app.core.planner import GIB, plan_offload

    def machine(ram: int) -> HardwareInfo:
        return HardwareInfo(ram, ram, 2, 2, "Test CPU", "Test OS", (), False, ())

    client = EngineClient(log_path=tmp_path / "engine-host.log")
    try:
        roomy = load_model(client, instruct_model_path, wanted_ctx=1024, hardware=machine(16 * GIB),
                           draft_model=instruct_model_path)
        assert roomy.notice is None
        _text, stats = client.chat(QUOTE, p.SamplingParams(temperature=0.0, max_tokens=24))
        assert stats.engine.draft_tokens_accepted > 0
        alone = plan_offload(read_model_facts(instruct_model_path), machine(16 * GIB), 1024).ram_bytes
        tight = machine(alone + GIB + alone // 4)  # the planner keeps 1 GiB free; the draft needs `alone`
        cramped = load_model(client, instruct_model_path, wanted_ctx=1024, hardware=tight,
                             draft_model=instruct_model_path)
        assert cramped.notice == (
            f"The draft model {instruct_model_path.name} does not fit in the memory left beside this "
            "model, so answers come without it."
        )
        _text, stats = client.chat(QUOTE, p.SamplingParams(temperature=0.0, max_tokens=12))
        assert stats.engine.draft_tokens_proposed == 0
    finally:
        client.shutdown()
