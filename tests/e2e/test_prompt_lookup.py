"""Prompt-lookup decoding (app/core/engine/decode.py PromptLookup) with the real SmolLM2 model:
drafts really accepted when the answer quotes the prompt, with the same text as one-token greedy
decoding on that prompt (not guaranteed in general: a batch rounds differently, so a near-tie
can flip; that is why it is off by default), the KV cache left as the one-token loop leaves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.engine import protocol as p
from app.core.engine.host import HostEngine
from app.core.engine.prompt_lookup import LOOKUP_ENV, PromptLookup
from tests.e2e.test_decode_loop import Recorder, make_host

pytestmark = pytest.mark.e2e

PASSAGES = (
    "[1] handbook.pdf p. 12: Expense claims are submitted in the finance portal within 30 days "
    "of the purchase. Each claim needs the original receipt, the project code and the name of "
    "the manager who approved it.\n"
    "[2] handbook.pdf p. 14: Hotel costs are refunded up to 150 euros a night in most cities."
)
QUOTE = [  # a question over documents whose answer quotes them (tests/benchmarks/bench_prompt_lookup)
    {"role": "system", "content": "Answer from the passages. Quote the passage that answers."},
    {"role": "user", "content": f"Passages:\n{PASSAGES}\n\nQuestion: What does an expense claim "
     "need? Quote the handbook."},
]
CHAT = [{"role": "user", "content": "Write a short poem about the sea."}]


def _loaded(model: Path, folder: Path) -> Iterator[tuple[HostEngine, Recorder]]:
    host, conn = make_host(folder)
    assert isinstance(host.load(p.LoadRequest(str(model), n_ctx=2048)), p.Loaded)
    yield host, conn
    host.unload()


@pytest.fixture(scope="module")
def smol(
    instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HostEngine, Recorder]]:
    yield from _loaded(instruct_model_path, tmp_path_factory.mktemp("lookup"))


def run(host: HostEngine, messages: list[dict[str, Any]], lookup: str, monkeypatch: pytest.MonkeyPatch,
        max_tokens: int = 96) -> p.ChatDone:
    monkeypatch.setenv(LOOKUP_ENV, lookup)
    host.chat_llm.reset()
    done = host.chat(p.ChatRequest(messages, p.SamplingParams(temperature=0.0, max_tokens=max_tokens)))
    assert isinstance(done, p.ChatDone), done
    return done


@pytest.fixture(scope="module")
def gemma(
    chat_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HostEngine, Recorder]]:
    """Gemma 3 270M, a base model: it repeats what it was given, so its drafts get accepted."""
    yield from _loaded(chat_model_path, tmp_path_factory.mktemp("lookup-gemma"))


def test_same_text_with_and_without_lookup_and_drafts_accepted(
    gemma: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, conn = gemma
    plain = run(host, QUOTE, "off", monkeypatch)
    conn.sent.clear()
    drafted = run(host, QUOTE, "on", monkeypatch)
    # The same text here (seen on every run on this kind of machine); a near-tie could flip a
    # token on another CPU's kernels, so the check is on a long shared start, not equality.
    import os.path

    assert len(os.path.commonprefix([plain.text, drafted.text])) >= 40, (plain.text, drafted.text)
    assert conn.streamed() == drafted.text
    lookup = host.last_drafter
    assert lookup is not None and lookup.accepted >= 10, vars(lookup)


def test_off_by_default_and_a_chat_that_quotes_nothing_gives_up_drafting(
    smol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off unless asked: batched verification can flip a near-tie (module docstring). Asked for,
    an answer that quotes nothing stops proposing drafts after a few misses."""
    from app.core.engine.prompt_lookup import prompt_lookup_wanted

    monkeypatch.delenv(LOOKUP_ENV, raising=False)
    assert not prompt_lookup_wanted()
    host, _conn = smol
    done = run(host, CHAT, "on", monkeypatch)
    assert done.stats.generated_tokens > 20
    lookup = host.last_drafter
    assert lookup is not None and lookup.proposed <= lookup.give_up_after + lookup.max_draft


def test_the_cache_is_left_as_the_one_token_loop_leaves_it(
    smol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop by max_tokens in the middle of an accepted draft: the cache holds the prompt and
    every given-out token but the last (what the one-token loop evaluated), and a second turn
    on top of it answers."""
    host, _conn = smol
    first = run(host, QUOTE, "on", monkeypatch, max_tokens=20)
    assert host.last_drafter is not None and host.last_drafter.accepted > 0
    assert first.stats.finish_reason == "length"
    assert host.chat_llm.n_tokens == first.stats.prompt_tokens + first.stats.generated_tokens - 1
    follow = [*QUOTE, {"role": "assistant", "content": first.text},
              {"role": "user", "content": "Now the last sentence only."}]
    second = host.chat(p.ChatRequest(follow, p.SamplingParams(temperature=0.0, max_tokens=40)))
    assert isinstance(second, p.ChatDone) and second.text.strip()


def test_the_draft_is_what_followed_the_latest_occurrence() -> None:
    import numpy as np

    lookup = PromptLookup(max_ngram=3, min_ngram=2, max_draft=4)
    history = np.array([5, 6, 7, 8, 9, 1, 5, 6, 7, 3, 4, 2, 5, 6, 7], dtype=np.intc)
    assert lookup.draft(history, 10) == [3, 4, 2, 5]  # the latest earlier "5 6 7" came before "3 4 2 5"
    assert lookup.draft(history, 2) == [3, 4]
    assert lookup.draft(np.array([1, 2, 3, 4], dtype=np.intc), 4) == []
    lookup.proposed, lookup.accepted = 100, 3  # drafts keep failing: it stops proposing
    assert lookup.draft(history, 4) == []
