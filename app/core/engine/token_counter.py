"""How many tokens a text is, counted by the model's own tokenizer: the one token counter of
the app (the context meter, the prompt budget, the documents' chunker).

Why not an estimate: "3 characters a token" is off by 1.5x for code and 1.8x for Chinese with
Gemma's tokenizer (measured: tests/unit/test_token_counter.py), so a prompt the estimate said
would fit can overflow the context. Why in this process and not a request to the engine host:
the meter counts while the user types, also while the host is busy writing an answer, and the
host answers one request at a time; a vocabulary-only load here (no weights: 45 MB and ~0.3 s
for Gemma's 262k-token vocabulary, a few seconds on a busy machine) counts at ~1M tokens/s with
no waiting. It is made only for a file the engine host has already loaded (or the bundled
embedding model), so native code here never meets a file it has not already accepted.

`counter_for(path)` blocks while the vocabulary loads (call it off the GUI thread);
`ready_counter(path)` never blocks and is None until then, and callers use `estimate_tokens`.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("enclave.engine.tokens")

TokenCounter = Callable[[str], int]

_lock = threading.Lock()
_vocabularies: dict[tuple[str, int, float], Any] = {}
_counters: dict[tuple[str, int, float], TokenCounter] = {}
_MAX_KEPT = 4  # the chat model, the embedding model, and a switch or two
COUNTS_KEPT = 4096  # texts whose token counts a counter remembers (a few long conversations)


def _key(path: Path | str) -> tuple[str, int, float]:
    file = Path(path)
    stat = file.stat()
    return (str(file.resolve()), stat.st_size, stat.st_mtime)


def vocab_model(path: Path | str) -> Any:
    """llama-cpp-python's model with only the vocabulary loaded (cached per file version):
    `tokenize(bytes, add_bos, special)`, `token_bos()`, like Llama's."""
    key = _key(path)
    with _lock:
        found = _vocabularies.get(key)
    if found is not None:
        return found
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    from app.core.engine.backends import require_cpu_backend

    # llama.cpp's log goes through llama-cpp-python's logger: quiet at ERROR. Not Llama(...,
    # verbose=False): that silences by pointing the whole process's fd 1 and 2 at /dev/null
    # while it loads, which swallows what other threads print meanwhile (a CLI's "Serving at").
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    require_cpu_backend()  # else llama.cpp would crash: a plain error instead
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    llm = LlamaModel(path_model=key[0], params=params, verbose=True)
    with _lock:
        if len(_vocabularies) >= _MAX_KEPT:
            oldest = next(iter(_vocabularies))
            _vocabularies.pop(oldest)
            _counters.pop(oldest, None)
        return _vocabularies.setdefault(key, llm)


@atexit.register
def _close_all() -> None:
    """Free the vocabularies before the interpreter tears llama_cpp down under them (else
    Llama.__del__ complains at exit)."""
    with _lock:
        models = list(_vocabularies.values())
        _vocabularies.clear()
        _counters.clear()
    for llm in models:
        try:
            llm.close()
        except Exception:  # exiting anyway
            pass


def counter_for(path: Path | str) -> TokenCounter:
    """count(text): tokens of `text` as the model sees it, without its special tokens.
    Blocks while the vocabulary loads; raises when llama-cpp-python or the file is missing."""
    key = _key(path)
    with _lock:
        ready = _counters.get(key)
    if ready is not None:
        return ready
    llm = vocab_model(path)
    count_lock = threading.Lock()
    # Counts of texts seen lately: the context meter counts every message of the conversation
    # on screen after each change (200 messages: ~25 ms of tokenizing on the GUI thread, a
    # stall in bench_chat.py), and those texts rarely change. Keyed by length and hash, so the
    # texts themselves are not kept.
    known: OrderedDict[tuple[int, int], int] = OrderedDict()

    def count(text: str) -> int:
        if not text:
            return 0
        key = (len(text), hash(text))
        with count_lock:
            tokens = known.get(key)
            if tokens is None:
                tokens = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
                known[key] = tokens
                if len(known) > COUNTS_KEPT:
                    known.popitem(last=False)
            else:
                known.move_to_end(key)
            return tokens

    with _lock:
        return _counters.setdefault(key, count)


def ready_counter(path: Path | str | None) -> TokenCounter | None:
    """The counter for `path` if its vocabulary is loaded already; never blocks."""
    if path is None:
        return None
    try:
        key = _key(path)
    except OSError:
        return None
    with _lock:
        return _counters.get(key)


def warm(path: Path | str) -> None:
    """Load the vocabulary now (a background thread's job); failures only mean estimates."""
    try:
        counter_for(path)
    except Exception as exc:  # no llama-cpp-python here, the file went away...
        log.info("token counts stay estimated for %s (%s)", Path(path).name, type(exc).__name__)
