"""The engine's crash report names what the exit and the log show, and guesses nothing."""

from __future__ import annotations

import signal
import stat
import time
from pathlib import Path

import pytest

from app.core import paths
from app.core.engine.crash_cause import (
    CAUSE_ASSERT,
    CAUSE_EXIT,
    CAUSE_OUT_OF_MEMORY,
    CAUSE_SIGNAL,
    CAUSE_STOPPED_ON_PURPOSE,
    CAUSE_UNSUPPORTED,
    crash_sentence,
    explain_crash,
)
from app.core.engine.template_guard import TemplateFailed, guarded
from app.core.sqlite_db import open_database

ASSERT_LOG = (
    "llama_model_loader: - kv  28: tokenizer.ggml.eos_token_id u32 = 2\n"
    "/tmp/build/vendor/llama.cpp/src/llama-model.cpp:1328: GGML_ASSERT(hparams.n_layer_all > 0) failed\n"
    "#0  0x00007f887d84d7de in ggml_abort () from libggml-base.so\n"
)


def test_an_assert_is_named_with_its_line_without_the_build_path() -> None:
    cause = explain_crash(-signal.SIGABRT, ASSERT_LOG)
    assert cause.kind == CAUSE_ASSERT and cause.signal_name == "SIGABRT"
    text = crash_sentence(cause, "model.gguf", loading=True)
    assert text.startswith("The model engine stopped while loading model.gguf: llama.cpp stopped")
    assert text.endswith("llama-model.cpp:1328: GGML_ASSERT(hparams.n_layer_all > 0) failed")
    assert "/tmp/build" not in text and "memory" not in text


@pytest.mark.parametrize(
    ("code", "log", "kind", "words"),
    [
        (
            -signal.SIGABRT,
            "ggml_cuda_host_malloc: CUDA error: out of memory\n",
            CAUSE_OUT_OF_MEMORY,
            "ran out of memory",
        ),
        (
            -signal.SIGABRT,
            "terminate called after throwing an instance of 'std::bad_alloc'\n",
            CAUSE_OUT_OF_MEMORY,
            "memory",
        ),
        (-signal.SIGSEGV, "llama_decode: ...\n", CAUSE_SIGNAL, "SIGSEGV: a memory access error"),
        (-signal.SIGKILL, "", CAUSE_SIGNAL, "killed from outside"),
        (-signal.SIGBUS, "", CAUSE_SIGNAL, "could not be read any more"),
        (
            1,
            "unknown model architecture: 'quantumformer'\n",
            CAUSE_UNSUPPORTED,
            "('quantumformer') is not supported",
        ),
        (3, "", CAUSE_EXIT, "exited with code 3"),
    ],
)
def test_causes(code: int, log: str, kind: str, words: str) -> None:
    cause = explain_crash(code, log)
    assert cause.kind == kind
    assert words in crash_sentence(cause)
    if kind != CAUSE_OUT_OF_MEMORY and code != -signal.SIGKILL:  # SIGKILL says "often" OOM
        assert "out of memory" not in crash_sentence(cause)


def test_a_kill_on_request_is_not_a_crash_to_explain() -> None:
    cause = explain_crash(-signal.SIGKILL, "CUDA error: out of memory", killed_on_purpose=True)
    assert cause.kind == CAUSE_STOPPED_ON_PURPOSE


def test_template_deadline_stops_an_endless_loop_in_the_main_thread() -> None:
    started = time.monotonic()
    with pytest.raises(TemplateFailed) as caught:
        guarded("format the conversation", 0.3, lambda: [None for _ in iter(int, 1)])
    assert time.monotonic() - started < 5
    assert "took longer than 0.3 seconds" in str(caught.value)
    assert guarded("format the conversation", 0.3, lambda: "fine") == "fine"  # no stray interrupt
    time.sleep(0.5)


def test_template_errors_become_sentences() -> None:
    def boom() -> str:
        raise ValueError("Conversation roles must alternate user/assistant")

    with pytest.raises(TemplateFailed) as caught:
        guarded("format the conversation", 1.0, boom)
    assert str(caught.value) == (
        "This model's chat template failed to format the conversation: Conversation roles must "
        "alternate user/assistant."
    )


def test_folders_and_databases_are_owner_only(enclave_home: Path) -> None:
    for folder in (paths.data_dir(), paths.config_dir(), paths.log_dir(), paths.cache_dir()):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    loose = paths.data_dir() / "old.db"
    loose.write_bytes(b"")
    loose.chmod(0o644)  # as an older version left it
    db = open_database(loose)
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    for file in (loose, loose.with_name("old.db-wal"), loose.with_name("old.db-shm")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    db.close()
    fresh = open_database(paths.data_dir() / "new.db")
    fresh.close()
    assert stat.S_IMODE((paths.data_dir() / "new.db").stat().st_mode) == 0o600
