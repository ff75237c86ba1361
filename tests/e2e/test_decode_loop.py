"""The engine host's own decode loop (app/core/engine/decode.py) against llama-cpp-python's
create_*completion loop (ENCLAVE_DECODE_LOOP=library), with the real models, in this process:
same text for the same sampling, multi-byte characters, stop strings, seeds, cancel, limits."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.engine import protocol as p
from app.core.engine.decode import SWITCH_ENV
from app.core.engine.host import HostEngine

pytestmark = pytest.mark.e2e

POEM = [{"role": "user", "content": "Write a short poem about the sea, with a few emojis."}]


class Recorder:
    """The host's end of the pipe: keeps what the host sends; may run a hook on each message."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.on_send: Any = None

    def send(self, message: Any) -> None:
        self.sent.append(message)
        if self.on_send is not None:
            self.on_send(message)

    def streamed(self) -> str:
        return "".join(m.text for m in self.sent if isinstance(m, p.TokenBatch))


def make_host(tmp_path: Path) -> tuple[HostEngine, Recorder]:
    from app.core.engine.backends import load_backends

    load_backends()
    conn = Recorder()
    cancel = p.CancelFlag(multiprocessing.get_context("spawn"))
    return HostEngine(conn, cancel, str(tmp_path / "host.log")), conn  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def smol(
    instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HostEngine, Recorder]]:
    host, conn = make_host(tmp_path_factory.mktemp("smol"))
    assert isinstance(host.load(p.LoadRequest(str(instruct_model_path), n_ctx=1024)), p.Loaded)
    yield host, conn
    host.unload()


def fresh(host: HostEngine) -> None:
    """Empty KV cache: both loops then evaluate the prompt in the same batches (llama.cpp's CPU
    kernels may round differently for another batch split, which is not what we compare)."""
    host.chat_llm.reset()


def answer(host: HostEngine, conn: Recorder, request: Any, loop: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(SWITCH_ENV, loop)
    fresh(host)
    conn.sent.clear()
    if isinstance(request, p.ChatRequest):
        return host.chat(request)
    return host.complete(request)


def both(host: HostEngine, conn: Recorder, request: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    library = answer(host, conn, request, "library", monkeypatch)
    ours = answer(host, conn, request, "", monkeypatch)
    assert isinstance(ours, p.ChatDone), ours
    assert conn.streamed() == ours.text  # what streamed is the answer, nothing held back or extra
    return library, ours


@pytest.mark.parametrize(
    "sampling",
    [
        p.SamplingParams(temperature=0.0, max_tokens=64),
        p.SamplingParams(temperature=0.7, max_tokens=64, seed=5),
        p.SamplingParams(temperature=0.9, max_tokens=48, seed=7, repeat_penalty=1.3),
        p.SamplingParams(temperature=0.0, max_tokens=48, repeat_penalty=1.3),
    ],
    ids=["greedy", "seeded", "penalty", "greedy-penalty"],
)
def test_same_text_as_the_library_loop(
    smol: Any, sampling: p.SamplingParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, conn = smol
    library, ours = both(host, conn, p.ChatRequest(POEM, sampling), monkeypatch)
    assert ours.text == library.text
    assert ours.stats.finish_reason == library.stats.finish_reason
    assert ours.stats.prompt_tokens == library.stats.prompt_tokens
    if ours.stats.finish_reason == "length":
        assert ours.stats.generated_tokens == sampling.max_tokens
    assert ours.stats.engine_eval_tokens_per_s > 0


def test_greedy_gemma_with_the_fallback_template(chat_model_path: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    host, conn = make_host(tmp_path)
    loaded = host.load(p.LoadRequest(str(chat_model_path), n_ctx=512))
    assert isinstance(loaded, p.Loaded)
    try:
        question = [{"role": "user", "content": "Name three colours."}]
        # Greedy, and the top-k cut and the in-place penalty over its 262k-entry vocabulary.
        for sampling in (p.SamplingParams(temperature=0.0, max_tokens=40),
                         p.SamplingParams(temperature=0.7, max_tokens=48, seed=3),
                         p.SamplingParams(temperature=0.9, max_tokens=32, seed=8, repeat_penalty=1.3),
                         p.SamplingParams(temperature=0.0, max_tokens=32, repeat_penalty=1.3)):  # fmt: skip
            library, ours = both(host, conn, p.ChatRequest(question, sampling), monkeypatch)
            assert ours.text == library.text, sampling
    finally:
        host.unload()


def test_multi_byte_characters_split_across_tokens(smol: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, conn = smol
    # SmolLM2's byte-level BPE spells an emoji in several tokens, each an incomplete UTF-8 piece.
    request = p.CompletionRequest(
        "Emoji row: 🌊🐋🌊🐋🌊🐋🌊🐋🌊", p.SamplingParams(temperature=0.0, max_tokens=24)
    )
    library, ours = both(host, conn, request, monkeypatch)
    assert "\ufffd" not in ours.text
    assert any(ord(c) > 0xFFFF for c in ours.text), ours.text
    assert ours.text == library.text
    for message in conn.sent:  # every batch is whole characters
        if isinstance(message, p.TokenBatch):
            assert "\ufffd" not in message.text
    # A token with no text of its own (half an emoji) still counts in its batch: the client's
    # tokens/s is the batches' counts over time, and read low on such text before.
    counted = sum(m.n_tokens for m in conn.sent if isinstance(m, p.TokenBatch))
    assert counted == ours.stats.generated_tokens == 24


def test_stop_string_spanning_tokens_is_cut_and_never_streamed(
    smol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, conn = smol
    sampling = p.SamplingParams(temperature=0.0, max_tokens=64)
    full = answer(host, conn, p.ChatRequest(POEM, sampling), "", monkeypatch).text
    stop = full[25:40]  # a few tokens' worth, from the middle of the answer
    request = p.ChatRequest(POEM, sampling, extras=p.ChatExtras(stop=[stop]))
    library, ours = both(host, conn, request, monkeypatch)
    assert ours.text == full[: full.index(stop)] == library.text
    assert ours.stats.finish_reason == "stop"
    assert stop not in conn.streamed()


def test_seed_reproducible_and_seedless_answers_differ(smol: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, conn = smol
    seeded = p.ChatRequest(POEM, p.SamplingParams(temperature=1.0, max_tokens=32, seed=42))
    first = answer(host, conn, seeded, "", monkeypatch).text
    assert answer(host, conn, seeded, "", monkeypatch).text == first
    seedless = p.ChatRequest(POEM, p.SamplingParams(temperature=1.0, max_tokens=32))
    texts = {answer(host, conn, seedless, "", monkeypatch).text for _ in range(3)}
    assert len(texts) > 1


def test_cancel_mid_answer_then_the_next_answer_works(smol: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, conn = smol
    monkeypatch.setenv(SWITCH_ENV, "")
    seen: list[int] = []

    def stop_after_a_few(message: Any) -> None:
        if isinstance(message, p.TokenBatch):
            seen.append(message.n_tokens)
            if len(seen) == 3:
                host.cancel.set()

    conn.on_send = stop_after_a_few
    try:
        done = host.chat(p.ChatRequest(POEM, p.SamplingParams(max_tokens=500, seed=1)))
    finally:
        conn.on_send = None
        host.cancel.clear()
    assert isinstance(done, p.ChatDone)
    assert done.stats.finish_reason == "cancelled"
    assert done.stats.generated_tokens < 100
    # The model's state stays consistent: a follow-up reuses the cache and answers normally.
    again = host.chat(p.ChatRequest(POEM, p.SamplingParams(max_tokens=8, seed=1)))
    assert isinstance(again, p.ChatDone) and again.stats.finish_reason == "length"
    assert again.stats.prompt_tokens_evaluated < again.stats.prompt_tokens
    assert again.stats.generated_tokens == 8


def test_length_limit_and_the_kv_cache_bookkeeping(smol: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, conn = smol
    request = p.ChatRequest(POEM, p.SamplingParams(temperature=0.0, max_tokens=10))
    library = answer(host, conn, request, "library", monkeypatch)
    library_tokens = host.chat_llm.n_tokens
    ours = answer(host, conn, request, "", monkeypatch)
    assert ours.stats.finish_reason == "length" and ours.stats.generated_tokens == 10
    assert host.chat_llm.n_tokens == library_tokens  # the last token is left for the next turn
    assert ours.text == library.text


def test_prompt_longer_than_the_context(smol: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, conn = smol
    long = [{"role": "user", "content": "lighthouse " * 1500}]
    error = answer(host, conn, p.ChatRequest(long, p.SamplingParams(max_tokens=8)), "", monkeypatch)
    assert isinstance(error, p.EngineError) and error.kind == p.ERROR_CONTEXT_TOO_LONG
    assert "1,024" in error.message and error.details["prompt_tokens"] > 1024
