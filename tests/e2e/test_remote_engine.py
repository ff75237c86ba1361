"""The remote engine against a real OpenAI-compatible server: llama-cpp-python's own
`llama_cpp.server` on 127.0.0.1 with the SmolLM2 instruct model (tests/llama_server.py), and
the official `openai` client inside RemoteEngine. Failures are real too: a closed port, a
wrong key, the server SIGKILLed or SIGSTOPped in the middle of an answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.core.cancel import CancelToken
from app.core.engine import protocol as p
from app.core.engine.base import Engine, EngineError
from app.core.engine.remote import (
    RemoteEngine,
    apply_engine_settings,
    normalize_base_url,
    remote_engine_from_settings,
)
from app.core.settings import Settings
from tests.hub_fixtures import MemoryKeyring, memory_keyring
from tests.llama_server import LlamaServer, free_port

pytestmark = pytest.mark.e2e

__all__ = ["memory_keyring"]

KEY = "test-key-123"
ALIAS = "smollm2-instruct"
LONG_ANSWER = [{"role": "user", "content": "Write a long story about a dragon who learns to cook."}]
LONG = p.SamplingParams(max_tokens=400, seed=3, temperature=0.8)


@pytest.fixture(scope="module")
def server(instruct_model_path: Path) -> Iterator[LlamaServer]:
    """One server for the tests that leave it running (with a key, like a company's)."""
    with LlamaServer(instruct_model_path, alias=ALIAS, api_key=KEY, n_threads=1) as running:
        yield running


@pytest.fixture
def fresh_server(instruct_model_path: Path) -> Iterator[LlamaServer]:
    """A server of its own, for a test that kills or stops it; warmed up (a fresh llama.cpp
    takes a second or more over its first prompt, longer than the stall test waits)."""
    with LlamaServer(instruct_model_path, alias=ALIAS, n_threads=1) as running:
        engine_for(running).chat(LONG_ANSWER, p.SamplingParams(max_tokens=1))
        yield running


def engine_for(server: LlamaServer, **kwargs: object) -> RemoteEngine:
    return RemoteEngine(server.url, server.api_key, ALIAS, **kwargs)  # type: ignore[arg-type]


def test_streams_an_answer_with_stats(server: LlamaServer) -> None:
    engine = engine_for(server)
    assert isinstance(engine, Engine)
    assert engine.is_remote and engine.is_ready
    assert engine.where == f"127.0.0.1:{server.port}" and engine.model_name == ALIAS
    pieces: list[tuple[float, str]] = []
    text, stats = engine.chat(
        [{"role": "user", "content": "Name three colors."}],
        p.SamplingParams(max_tokens=48, seed=1),
        on_tokens=lambda piece: pieces.append((time.perf_counter(), piece)),
    )
    assert text.strip() and "".join(piece for _, piece in pieces) == text
    e = stats.engine
    assert e.finish_reason in ("stop", "length")
    assert 0 < e.generated_tokens <= 48
    assert 0 < stats.time_to_first_token_s < 20 and stats.client_tokens_per_s > 1
    assert stats.total_s >= stats.time_to_first_token_s
    assert stats.source == engine.where and stats.model == ALIAS
    # Batched like the local engine: at most ~30 callbacks a second after the first.
    span = pieces[-1][0] - pieces[0][0]
    assert len(pieces) <= 2 + 30 * span * 1.2
    engine.shutdown()


def test_models_completion_and_the_settings_test_button(server: LlamaServer) -> None:
    engine = engine_for(server)
    assert engine.list_models() == [ALIAS]
    text, stats = engine.complete("1, 2, 3, 4,", p.SamplingParams(max_tokens=8, seed=2, temperature=0.0))
    assert text and stats.engine.finish_reason in ("length", "stop")
    ok, sentence, models = engine.test_connection()
    assert ok and models == [ALIAS] and "answered" in sentence, sentence
    unknown = RemoteEngine(server.url, KEY, "no-such-model")
    ok, sentence, models = unknown.test_connection()
    assert not ok and models == [ALIAS] and "no model “no-such-model”" in sentence
    ok, sentence, _ = RemoteEngine(server.url, KEY, "").test_connection()
    assert ok and "1 model available" in sentence


def test_a_wrong_or_missing_key_is_unauthorized(server: LlamaServer) -> None:
    with pytest.raises(EngineError) as wrong:
        RemoteEngine(server.url, "wrong-key", ALIAS).chat([{"role": "user", "content": "Hi"}])
    assert wrong.value.kind == p.ERROR_UNAUTHORIZED and "refused the key" in wrong.value.message
    with pytest.raises(EngineError) as missing:
        RemoteEngine(server.url, None, ALIAS).list_models()
    assert missing.value.kind == p.ERROR_UNAUTHORIZED and "needs a key" in missing.value.message
    ok, sentence, models = RemoteEngine(server.url, "wrong-key", ALIAS).test_connection()
    assert not ok and not models and "refused the key" in sentence


def test_a_server_that_is_down_is_unreachable_at_once() -> None:
    engine = RemoteEngine(f"127.0.0.1:{free_port()}", None, "any")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(EngineError) as failed:
        engine.chat([{"role": "user", "content": "Hi"}])
    assert time.monotonic() - started < 6
    assert failed.value.kind == p.ERROR_UNREACHABLE
    assert failed.value.message.startswith("Enclave cannot reach the server at 127.0.0.1:")
    ok, sentence, _ = engine.test_connection()
    assert not ok and "cannot reach" in sentence


def test_stop_and_cancel_end_the_answer_at_once(server: LlamaServer) -> None:
    engine = engine_for(server)
    token = CancelToken()
    seen: list[str] = []

    def stop_after_two(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 2:
            token.cancel()

    text, stats = engine.chat(LONG_ANSWER, LONG, on_tokens=stop_after_two, stop=token)
    assert stats.engine.finish_reason == "cancelled"
    assert text == "".join(seen) and len(seen) == 2
    # cancel() from another thread, as the queue does for the running job.
    first = threading.Event()
    timer = threading.Thread(target=lambda: (first.wait(20), engine.cancel()))
    timer.start()
    text, stats = engine.chat(LONG_ANSWER, LONG, on_tokens=lambda _piece: first.set())
    cancelled_at = time.perf_counter()
    timer.join()
    assert stats.engine.finish_reason == "cancelled" and text
    assert stats.engine.generated_tokens < 200
    # Stop pressed while the request waited: no request at all.
    done = CancelToken()
    done.cancel()
    text, stats = engine.chat(LONG_ANSWER, LONG, stop=done)
    assert text == "" and stats.engine.finish_reason == "cancelled"
    # The server noticed the client leaving and answers the next question.
    text, stats = engine.chat([{"role": "user", "content": "Hi"}], p.SamplingParams(max_tokens=4))
    assert text and stats.engine.finish_reason in ("length", "stop")
    assert time.perf_counter() - cancelled_at < 20


def test_a_server_killed_mid_answer_keeps_what_arrived(fresh_server: LlamaServer) -> None:
    engine = engine_for(fresh_server)
    seen: list[str] = []

    def kill_after_three(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            fresh_server.signal(signal.SIGKILL)

    with pytest.raises(EngineError) as failed:
        engine.chat(LONG_ANSWER, LONG, on_tokens=kill_after_three)
    assert failed.value.kind in (p.ERROR_CUT_OFF, p.ERROR_UNREACHABLE)
    assert failed.value.partial_text and failed.value.partial_text == "".join(seen)
    if failed.value.kind == p.ERROR_CUT_OFF:
        assert failed.value.message == "The server stopped in the middle of the answer. What arrived is kept."


def test_a_stalled_server_is_reported_and_the_text_kept(fresh_server: LlamaServer) -> None:
    engine = engine_for(fresh_server, stall_timeout_s=2)
    seen: list[str] = []
    stopped_at: list[float] = []

    def stop_server_after_three(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            fresh_server.signal(signal.SIGSTOP)
            stopped_at.append(time.monotonic())

    try:
        with pytest.raises(EngineError) as failed:
            engine.chat(LONG_ANSWER, LONG, on_tokens=stop_server_after_three)
        waited = time.monotonic() - stopped_at[0] if stopped_at else 0.0
    finally:
        fresh_server.signal(signal.SIGCONT)
    assert failed.value.kind == p.ERROR_STALLED, failed.value.message
    assert "sent nothing more for 2 seconds" in failed.value.message
    assert failed.value.partial_text == "".join(seen) and failed.value.partial_text
    assert 1.9 < waited < 5
    # Once it runs again, the same engine gets answers again.
    text, _ = engine.chat([{"role": "user", "content": "Hi"}], p.SamplingParams(max_tokens=4))
    assert text


def test_stop_ends_the_answer_while_the_server_sends_nothing(fresh_server: LlamaServer) -> None:
    """The read is blocked (the server is stopped): Stop still ends the answer at once."""
    engine = engine_for(fresh_server, stall_timeout_s=20)
    token = CancelToken()
    pressed: list[float] = []

    def stop_server_then_press_stop(piece: str) -> None:
        if not pressed:
            fresh_server.signal(signal.SIGSTOP)
            threading.Timer(0.5, lambda: (pressed.append(time.monotonic()), token.cancel())).start()
            pressed.append(0.0)

    try:
        text, stats = engine.chat(LONG_ANSWER, LONG, on_tokens=stop_server_then_press_stop, stop=token)
        returned = time.monotonic()
    finally:
        fresh_server.signal(signal.SIGCONT)
    assert stats.engine.finish_reason == "cancelled" and text
    assert returned - pressed[-1] < 1.0


def test_embeddings_through_the_server_match_the_local_model(
    embedding_model_path: Path, tmp_path: Path
) -> None:
    from app.core.documents.embedding import embed_batched
    from app.core.documents.local_embedder import LocalEmbedder
    from app.core.documents.remote_embedder import RemoteEmbedder, embedder_for_settings

    texts = ["The refund policy allows returns within 30 days.", "Dragons breathe fire."]
    with LlamaServer(embedding_model_path, alias="all-MiniLM-L6-v2", embedding=True, n_threads=1) as server:
        engine = RemoteEngine(server.url, None, "")  # no chat model: the embedder finds one
        embedder = embedder_for_settings(Settings(server_embeddings=True), engine)
        assert isinstance(embedder, RemoteEmbedder)
        assert embedder.model_id == f"server:127.0.0.1:{server.port}/all-MiniLM-L6-v2"
        vectors = embed_batched(embedder, texts, batch_size=1)
        assert vectors.shape == (2, 384) and embedder.dim == 384
    local = LocalEmbedder(embedding_model_path).embed(texts)
    similarity = np.sum(np.asarray(local) * vectors, axis=1)
    assert (similarity > 0.99).all(), similarity
    assert embedder.model_id != LocalEmbedder.__name__ and not embedder.model_id.startswith(
        embedding_model_path.name
    )


def test_the_engine_from_settings_uses_the_key_in_the_keyring(
    server: LlamaServer, memory_keyring: MemoryKeyring
) -> None:
    from app.core import secrets
    from app.core.engine.service import EngineService

    address = f"http://127.0.0.1:{server.port}"
    secrets.set_server_key(address + "/v1/", KEY)
    assert secrets.get_server_key(address) == KEY
    settings = Settings(engine_mode="server", server_url=address, server_model=ALIAS)
    engine = remote_engine_from_settings(settings)
    assert engine is not None and engine.base_url == server.url
    assert engine.list_models() == [ALIAS]
    assert remote_engine_from_settings(Settings(server_url=address)) is None  # mode "local"
    service = EngineService()
    try:
        assert apply_engine_settings(service, settings) is None
        assert service.is_remote and service.where == f"127.0.0.1:{server.port}"
        assert apply_engine_settings(service, Settings()) is None and not service.is_remote
        broken = Settings(engine_mode="server", server_url="http://:nope")
        assert "is not a server address" in (apply_engine_settings(service, broken) or "")
        assert not service.is_remote
    finally:
        service.shutdown()
    secrets.delete_server_key(address)
    assert secrets.get_server_key(address) is None


def test_addresses_people_type() -> None:
    assert normalize_base_url("ai-box:8000") == "http://ai-box:8000/v1"
    assert normalize_base_url(" https://ai.corp/ ") == "https://ai.corp/v1"
    assert normalize_base_url("http://box:8000/v1/chat/completions") == "http://box:8000/v1"
    assert normalize_base_url("https://gw.corp/llm/v1") == "https://gw.corp/llm/v1"
    assert RemoteEngine("https://ai.corp", None, "m").where == "ai.corp"
    assert RemoteEngine("http://ai.corp:8080", None, "m").where == "ai.corp:8080"
    for bad in ("", "ftp://box", "http://box:port"):
        with pytest.raises(EngineError):
            normalize_base_url(bad)


# ---- the command line ----------------------------------------------------------------------
def cli_env(**extra: str) -> dict[str, str]:
    """The CLI's environment: keyring's own "fail" backend, so no test reads the real keyring."""
    return {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", **extra}


def enclave(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=timeout,
        env=cli_env(**env),
    )  # fmt: skip


def test_cli_chat_with_a_server(server: LlamaServer) -> None:
    result = enclave(
        "chat", "--server", f"http://127.0.0.1:{server.port}", "--server-key", KEY, "--model", ALIAS,
        "-p", "Name three colors.", "--max-tokens", "16", "--seed", "4", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"].strip() and data["model"] == ALIAS
    assert data["server"] == f"127.0.0.1:{server.port}"
    assert 0 < data["generated_tokens"] <= 16 and data["finish_reason"] in ("length", "stop")
    assert 0 < data["time_to_first_token_s"] < 20 and data["client_tokens_per_s"] > 1
    # Plain output, the key from the environment, the server's first model.
    text = enclave("chat", "--server", server.url, "-p", "Hi", "--max-tokens", "8", ENCLAVE_SERVER_KEY=KEY)
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip() and "tokens/s" in text.stderr and "first token after" in text.stderr
    wrong = enclave("chat", "--server", server.url, "--server-key", "nope", "-p", "Hi")
    assert wrong.returncode == 1 and "refused the key" in wrong.stderr
    assert "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1


def test_cli_chat_with_a_server_that_is_down() -> None:
    result = enclave("chat", "--server", f"127.0.0.1:{free_port()}", "--model", "m", "-p", "Hi")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("enclave: Enclave cannot reach the server at 127.0.0.1:")


def test_cli_keeps_the_answer_when_the_server_dies(fresh_server: LlamaServer) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "chat", "--server", fresh_server.url, "--model", ALIAS,
         "-p", LONG_ANSWER[0]["content"], "--max-tokens", "400", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.read(1)  # the answer has begun
    fresh_server.signal(signal.SIGKILL)
    rest, errors = process.communicate(timeout=60)
    assert first and process.returncode == 1
    assert rest.rstrip().endswith("[answer cut off]")
    assert len(errors.strip().splitlines()) == 1 and "Traceback" not in errors

