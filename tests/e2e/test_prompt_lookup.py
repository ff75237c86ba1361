"""Prompt-lookup decoding (app/core/engine/decode.py PromptLookup) with the real SmolLM2 model:
the same text as one-token-at-a-time greedy decoding, drafts really accepted when the answer
quotes the prompt, the KV cache left as the one-token loop leaves it (the next turn reuses it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.engine import protocol as p
from app.core.engine.decode import LOOKUP_ENV, PromptLookup
from app.core.engine.host import HostEngine
from tests.e2e.test_decode_loop import Recorder, make_host

pytestmark = pytest.mark.e2e

NOTICE = (
    "Notice to all staff: from 1 April the office opens at 8:30 and closes at 17:45. "
    "Parking permits are renewed every January at the front desk on the ground floor. "
    "Visitors sign in at reception and wear a badge at all times."
)
QUOTE = [
    {"role": "user", "content": f"Here is a notice:\n\n{NOTICE}\n\nRepeat the notice word for word."}
]
CHAT = [{"role": "user", "content": "Write a short poem about the sea."}]


@pytest.fixture(scope="module")
def smol(
    instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HostEngine, Recorder]]:
    host, conn = make_host(tmp_path_factory.mktemp("lookup"))
    assert isinstance(host.load(p.LoadRequest(str(instruct_model_path), n_ctx=2048)), p.Loaded)
    yield host, conn
    host.unload()


def run(host: HostEngine, messages: list[dict[str, Any]], lookup: str, monkeypatch: pytest.MonkeyPatch,
        max_tokens: int = 96) -> p.ChatDone:
    monkeypatch.setenv(LOOKUP_ENV, lookup)
    host.chat_llm.reset()
    done = host.chat(p.ChatRequest(messages, p.SamplingParams(temperature=0.0, max_tokens=max_tokens)))
    assert isinstance(done, p.ChatDone), done
    return done


def test_same_text_with_and_without_lookup_and_drafts_accepted(
    smol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, conn = smol
    plain = run(host, QUOTE, "off", monkeypatch)
    conn.sent.clear()
    drafted = run(host, QUOTE, "on", monkeypatch)
    assert drafted.text == plain.text
    assert conn.streamed() == drafted.text
    assert drafted.stats.generated_tokens == plain.stats.generated_tokens
    assert "8:30" in drafted.text  # the model did quote the notice, so drafts had something to copy
    lookup = host.last_lookup
    assert lookup is not None and lookup.accepted >= 10, vars(lookup)


def test_chat_that_quotes_nothing_is_the_same_text(smol: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host, _conn = smol
    assert run(host, CHAT, "on", monkeypatch).text == run(host, CHAT, "off", monkeypatch).text


def test_the_cache_is_left_as_the_one_token_loop_leaves_it(
    smol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop by max_tokens in the middle of an accepted draft: n_tokens counts only what the
    one-token loop evaluated, and a second turn on top gives the same text either way."""
    host, _conn = smol
    results = {}
    for mode in ("off", "on"):
        first = run(host, QUOTE, mode, monkeypatch, max_tokens=20)
        n_after = host.chat_llm.n_tokens
        follow = [*QUOTE, {"role": "assistant", "content": first.text},
                  {"role": "user", "content": "Now the last sentence only."}]
        monkeypatch.setenv(LOOKUP_ENV, mode)
        second = host.chat(p.ChatRequest(follow, p.SamplingParams(temperature=0.0, max_tokens=40)))
        assert isinstance(second, p.ChatDone)
        results[mode] = (first.text, n_after, second.text)
    assert results["on"] == results["off"]


def test_the_draft_is_what_followed_the_latest_occurrence() -> None:
    import numpy as np

    lookup = PromptLookup(max_ngram=3, min_ngram=2, max_draft=4)
    history = np.array([5, 6, 7, 8, 9, 1, 5, 6, 7, 3, 4, 2, 5, 6, 7], dtype=np.intc)
    assert lookup.draft(history, 10) == [3, 4, 2, 5]  # the latest earlier "5 6 7" came before "3 4 2 5"
    assert lookup.draft(history, 2) == [3, 4]
    assert lookup.draft(np.array([1, 2, 3, 4], dtype=np.intc), 4) == []
    lookup.proposed, lookup.accepted = 100, 3  # drafts keep failing: it stops proposing
    assert lookup.draft(history, 4) == []
