"""The app's one token counter: the model's own tokenizer (a vocabulary-only load), with the
counts of texts seen lately remembered, since the context meter counts a whole conversation
after every change. Real llama-cpp-python and the real SmolLM2 vocabulary."""

from __future__ import annotations

import time
from pathlib import Path

from app.core.engine import token_counter
from app.core.engine.token_counter import COUNTS_KEPT, counter_for


def test_counts_are_the_tokenizers_and_repeated_texts_are_not_tokenized_again(
    instruct_model_path: Path,
) -> None:
    count = counter_for(instruct_model_path)
    llm = token_counter.vocab_model(instruct_model_path)
    conversation = [f"Message {i}: how does the **harbour** crane number {i} work? " * 20 for i in range(200)]
    assert [count(t) for t in conversation] == [
        len(llm.tokenize(t.encode(), add_bos=False, special=False)) for t in conversation
    ]
    assert count("") == 0
    start = time.perf_counter()
    again = [count(t) for t in conversation]  # the meter after the next key press
    elapsed = time.perf_counter() - start
    assert again == [count(t) for t in conversation]
    assert elapsed < 0.005, elapsed  # lookups, not 200 tokenizations
    # Bounded: many more texts than it keeps, and the counts stay right.
    for i in range(COUNTS_KEPT + 10):
        assert count(f"w{i}") == len(llm.tokenize(f"w{i}".encode(), add_bos=False, special=False))
