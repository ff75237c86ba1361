"""Bad input gets a plain sentence, never a hang or a stack trace: hostile chat templates, a
prompt longer than the context (counted with the model's own tokenizer, in Chinese and code
where "3 characters a token" is far off), and engine crashes reported with their real cause
(signal, llama.cpp's assert and its line) instead of a guess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.chat.prompt import build_messages, estimate_tokens
from app.core.chat.store import STATUS_COMPLETE, Message
from app.core.engine import protocol as p
from app.core.engine import token_counter
from app.core.engine.base import EngineCrashed, EngineError
from app.core.engine.client import EngineClient
from app.core.engine.crash_cause import CAUSE_ASSERT, CAUSE_SIGNAL
from app.core.engine.loader import load_model
from app.core.hardware import detect_hardware
from tests.fuzz.gguf_layout import read_layout, write_with_string
from tests.fuzz.plain import why_not_plain

REPO = Path(__file__).resolve().parents[2]
CHINESE = "这是一个很长的中文句子，用来测试模型自己的分词器是否准确地计算了每一个字。"
CODE = "def f(x):\n    return {'a': [x, x**2], 'b': (x, -x)}\n"
HELLO = [{"role": "user", "content": "Say hi."}]
SHORT = p.SamplingParams(max_tokens=2, temperature=0.0, seed=1)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[EngineClient]:
    engine = EngineClient(log_path=tmp_path / "engine-host.log")
    yield engine
    engine.shutdown()


def _cpu() -> object:
    import dataclasses

    return dataclasses.replace(detect_hardware(), gpus=())


def _load(client: EngineClient, path: Path, ctx: int = 512) -> object:
    return load_model(client, path, wanted_ctx=ctx, n_threads=1, hardware=_cpu())


# ---- one token counter: the model's own ------------------------------------------------------
def test_the_models_tokenizer_counts_chinese_and_code_where_the_estimate_is_far_off(
    chat_model_path: Path, client: EngineClient
) -> None:
    count = token_counter.counter_for(chat_model_path)
    chinese, code = CHINESE * 20, CODE * 20
    for text in (chinese, code):
        estimate = estimate_tokens(text) - 8  # without the per-message allowance
        assert count(text) > 1.4 * estimate, (count(text), estimate)
    # The same count the engine makes of the prompt: the text plus a few template tokens.
    _load(client, chat_model_path, ctx=2048)
    _text, stats = client.chat([{"role": "user", "content": chinese}], SHORT)
    assert count(chinese) <= stats.engine.prompt_tokens <= count(chinese) + 16
    assert token_counter.ready_counter(chat_model_path) is count


def test_history_is_trimmed_by_real_tokens_so_a_chinese_conversation_fits(
    chat_model_path: Path, client: EngineClient
) -> None:
    # Nine turns of ~300 real tokens each: the 3-characters estimate says ~180, so it would
    # send them all into a 2,048-token context.
    n_ctx = 2048
    turns = [
        Message(i, 1, "user" if i % 2 == 0 else "assistant", CHINESE * 14, STATUS_COMPLETE, 0.0)
        for i in range(9)
    ]
    estimated = build_messages(turns, "", n_ctx, reserve_for_answer=64)
    counted = build_messages(
        turns, "", n_ctx, reserve_for_answer=64, count=token_counter.counter_for(chat_model_path)
    )
    assert counted.dropped_messages > estimated.dropped_messages  # the estimate keeps too much
    _load(client, chat_model_path, ctx=n_ctx)
    with pytest.raises(EngineError) as caught:  # what the estimate would have sent
        client.chat(estimated.messages, p.SamplingParams(max_tokens=64, temperature=0.0, seed=1))
    assert caught.value.kind == p.ERROR_CONTEXT_TOO_LONG
    assert why_not_plain(caught.value.message) is None, caught.value.message
    _text, stats = client.chat(counted.messages, p.SamplingParams(max_tokens=8, temperature=0.0, seed=1))
    assert stats.engine.prompt_tokens <= n_ctx - 64


def test_a_prompt_longer_than_the_context_gets_a_plain_sentence_in_the_cli(instruct_model_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "chat",
            str(instruct_model_path),
            "--ctx",
            "256",
            "--threads",
            "1",
            "--max-tokens",
            "8",
            "-p",
            CHINESE * 12 + CODE * 6,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "too long for this model" in done.stderr and "room for 256" in done.stderr, done.stderr


# ---- hostile chat templates --------------------------------------------------------------------
HOSTILE = {
    "syntax error": "{% for message in messages %}{{ message['content'] }",
    "raises": "{{ raise_exception('This template refuses every conversation.') }}",
    "undefined call": "{{ messages[0]['content'].no_such_method() }}",
    "endless loop": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "huge output": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
}
CHATML_TAIL = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n"
)


def _with_template(model: Path, tmp_path: Path, template: str) -> Path:
    return write_with_string(
        read_layout(model), "tokenizer.chat_template", template, tmp_path / "hostile.gguf"
    )


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_template_is_replaced_with_a_notice(
    kind: str, instruct_model_path: Path, client: EngineClient, tmp_path: Path
) -> None:
    model = _with_template(instruct_model_path, tmp_path, HOSTILE[kind])
    started = time.monotonic()
    outcome = _load(client, model)
    assert time.monotonic() - started < 60  # deadlines of seconds, not a hang
    notice = outcome.notice  # type: ignore[attr-defined]
    assert notice and "chat template" in notice and "standard “llama-3” format" in notice, notice
    assert why_not_plain(notice) is None, notice
    text, stats = client.chat(HELLO, SHORT)  # the standard format answers
    assert stats.engine.generated_tokens >= 1


def test_a_template_that_fails_on_one_conversation_says_so_and_the_engine_goes_on(
    instruct_model_path: Path, client: EngineClient, tmp_path: Path
) -> None:
    # Fine for ordinary chats (the check at load passes), endless when a message says "loop".
    template = (
        "{% if 'loop' in messages[-1]['content'] %}{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% endfor %}{% endfor %}{% endif %}" + CHATML_TAIL
    )
    _load(client, _with_template(instruct_model_path, tmp_path, template))
    started = time.monotonic()
    with pytest.raises(EngineError) as caught:
        client.chat([{"role": "user", "content": "please loop"}], SHORT)
    assert time.monotonic() - started < 30
    assert caught.value.kind == p.ERROR_TEMPLATE
    assert "took longer than" in caught.value.message and why_not_plain(caught.value.message) is None
    _text, stats = client.chat(HELLO, SHORT)  # same host, same model: still answering
    assert stats.engine.generated_tokens >= 1


# ---- crashes with their real cause ---------------------------------------------------------------
def _signal_host_while_answering(client: EngineClient, sig: signal.Signals) -> EngineCrashed:
    assert client.host_pid is not None
    pid = client.host_pid

    def send() -> None:
        time.sleep(0.3)
        os.kill(pid, sig)

    threading.Thread(target=send, daemon=True).start()
    with pytest.raises(EngineCrashed) as caught:
        client.chat(
            [{"role": "user", "content": "Count to a thousand."}],
            p.SamplingParams(max_tokens=4000, temperature=0.0, seed=1),
        )
    return caught.value


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL])
def test_a_signal_is_named_not_guessed(
    sig: signal.Signals, instruct_model_path: Path, client: EngineClient
) -> None:
    _load(client, instruct_model_path)
    crash = _signal_host_while_answering(client, sig)
    assert crash.cause is not None and crash.cause.kind == CAUSE_SIGNAL
    assert crash.exit_code == -sig and sig.name in crash.message
    assert sig == signal.SIGKILL or "out of memory" not in crash.message  # no guess of OOM
    assert "Your conversation is safe" in crash.message
    _load(client, instruct_model_path)  # a fresh host serves the next load
    assert client.chat(HELLO, SHORT)[1].engine.generated_tokens >= 1


def test_an_assert_in_llama_cpp_is_reported_with_its_line(
    instruct_model_path: Path, client: EngineClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 513 layers: llama.cpp stops on GGML_ASSERT(n_layer <= LLAMA_MAX_LAYERS). gguf_facts refuses
    # the file first (the next test); here that check is off, as for a file it does not know yet.
    import struct

    layout = read_layout(instruct_model_path)
    kv = layout.kv("llama.block_count")
    assert kv is not None
    header = bytearray(layout.header)
    struct.pack_into("<I", header, kv.value_off, 513)
    bad = tmp_path / "513-layers.gguf"
    with bad.open("wb") as out, instruct_model_path.open("rb") as src:
        out.write(header)
        src.seek(layout.data_start)
        out.write(src.read())
    monkeypatch.setenv("ENCLAVE_ENGINE_FAULT", "no_header_check")
    with pytest.raises(EngineCrashed) as caught:
        client.load(p.LoadRequest(str(bad), n_ctx=256, n_threads=1))
    crash = caught.value
    assert crash.cause is not None and crash.cause.kind == CAUSE_ASSERT
    assert crash.cause.signal_name == "SIGABRT"
    assert "while loading 513-layers.gguf" in crash.message
    assert "LLAMA_MAX_LAYERS" in crash.message and "internal checks" in crash.message
    assert "/" not in crash.message.split("Last engine log line:")[1]  # the file's name, not its path
    monkeypatch.delenv("ENCLAVE_ENGINE_FAULT")
    with pytest.raises(EngineError) as refused:  # with the check on, a plain refusal, no crash
        client.load(p.LoadRequest(str(bad), n_ctx=256, n_threads=1))
    assert not isinstance(refused.value, EngineCrashed)
    assert "513 layers" in refused.value.message and client.is_running
