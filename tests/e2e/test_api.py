"""Enclave's OpenAI-compatible API with the real engine (SmolLM2 135M Instruct), the real uvicorn
server on 127.0.0.1 and the official `openai` package as the client."""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from app.core.api.server import ApiServer, ApiServerError
from app.core.calls import CallQueue
from app.core.engine import protocol as p
from app.core.engine.client import EngineClient
from app.core.engine.queue import WINDOW
from app.core.engine.service import EngineService

pytestmark = pytest.mark.e2e

KEY = "test-key-123"
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def service(instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    calls = CallQueue()
    log_path = tmp_path_factory.mktemp("api-engine") / "engine-host.log"
    svc = EngineService(EngineClient(log_path=log_path), call_soon=calls)
    svc.load(instruct_model_path, 1024).result(timeout=120)
    calls.run_until(lambda: not svc.is_loading)
    assert svc.is_ready
    yield svc
    svc.shutdown()


@pytest.fixture(scope="module")
def server(service: EngineService) -> Any:
    api = ApiServer(service, port=0, api_key=KEY)
    api.start()
    yield api
    api.stop()


@pytest.fixture
def client(server: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60)


def test_models_lists_the_loaded_model_and_the_embedder(client: openai.OpenAI, server: ApiServer) -> None:
    assert server.port > 0 and server.base_url == f"http://127.0.0.1:{server.port}/v1"
    ids = [m.id for m in client.models.list().data]
    assert ids == ["SmolLM2-135M-Instruct.Q4_1.gguf", "all-MiniLM-L6-v2-Q8_0"]


def test_chat_streams_with_usage_and_engine_speed(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="any", messages=HELLO, max_tokens=12, seed=1, stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish in (["length"], ["stop"])
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.prompt_tokens > 5 and 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert chunks[-1].model_extra["enclave"]["engine_eval_tokens_per_s"] > 0


def test_chat_without_streaming(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="any", messages=HELLO, max_tokens=8, seed=1
    )
    reply = raw.parse()
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant" and reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("length", "stop")
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 8
    assert float(raw.headers["x-enclave-engine-tokens-per-s"]) > 0


def test_completions_plain_and_streamed(client: openai.OpenAI) -> None:
    reply = client.completions.create(model="any", prompt="The capital of France is", max_tokens=6, seed=1)
    assert reply.choices[0].text and reply.usage is not None and reply.usage.completion_tokens <= 6
    streamed = client.completions.create(
        model="any", prompt="One, two, three,", max_tokens=6, seed=1, stream=True
    )
    pieces = [c.choices[0].text for c in streamed if c.choices]
    assert "".join(pieces).strip()


def test_stop_strings_end_the_answer(client: openai.OpenAI) -> None:
    reply = client.completions.create(
        model="any", prompt="1, 2, 3, 4, 5, 6,", max_tokens=30, temperature=0, stop=["9"]
    )
    assert "9" not in reply.choices[0].text and reply.choices[0].finish_reason == "stop"


def test_embeddings_are_normalized_384_dimensions(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="any", input=["a cat on a mat", "quarterly revenue"])
    assert [d.index for d in result.data] == [0, 1]
    for item in result.data:
        assert len(item.embedding) == 384
        assert math.sqrt(sum(v * v for v in item.embedding)) == pytest.approx(1.0, abs=1e-3)
    as_base64 = client.embeddings.create(model="any", input="a cat on a mat", encoding_format="base64")
    assert as_base64.data[0].embedding  # the client decodes it


def test_json_schema_response_is_enforced(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    reply = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": "Invent a person with a name and an age."}],
        max_tokens=40,
        seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    value = json.loads(reply.choices[0].message.content or "")
    assert set(value) == {"name", "age"}
    assert isinstance(value["name"], str) and isinstance(value["age"], int)


def test_a_forced_tool_call_comes_back_as_tool_calls(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    reply = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        max_tokens=30,
        seed=1,
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and choice.message.tool_calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert "city" in json.loads(choice.message.tool_calls[0].function.arguments)  # type: ignore[union-attr]


def test_a_wrong_or_missing_key_is_refused(server: ApiServer) -> None:
    wrong = openai.OpenAI(base_url=server.base_url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.chat.completions.create(model="any", messages=HELLO, max_tokens=4)
    assert "key is wrong" in caught.value.message
    status, body = _raw(server, "/models", key=None)
    assert status == 401 and body["error"]["code"] == "missing_api_key"


def test_a_new_key_replaces_the_old_at_once(server: ApiServer) -> None:
    server.set_api_key("second-key")
    try:
        new = openai.OpenAI(base_url=server.base_url, api_key="second-key", max_retries=0)
        assert new.models.list().data
        old = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            old.models.list()
    finally:
        server.set_api_key(KEY)


def test_a_prompt_longer_than_the_context_is_a_plain_400(client: openai.OpenAI) -> None:
    long = [{"role": "user", "content": "word " * 1500}]
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as caught:
            result = client.chat.completions.create(model="any", messages=long, max_tokens=4, stream=stream)
            if stream:
                list(result)  # type: ignore[arg-type]
        assert "too long for this model" in caught.value.message
        assert caught.value.code == "context_length_exceeded"


def test_bad_requests_get_plain_messages(client: openai.OpenAI, server: ApiServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="any", messages=HELLO, max_tokens=4, n=2)
    assert "n must be 1" in caught.value.message
    status, body = _raw(server, "/chat/completions", {"model": "x"})
    assert status == 400 and "messages" in body["error"]["message"]


def _raw(server: ApiServer, path: str, body: Any = None, key: str | None = KEY, timeout: float = 30) -> Any:
    """One HTTP request without the openai client: (status, parsed JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        payload = None if body is None else json.dumps(body)
        connection.request("GET" if body is None else "POST", f"/v1{path}", payload, headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def _block_engine(service: EngineService) -> tuple[threading.Event, Any]:
    """A window job that holds the engine until released: API jobs must wait behind it."""
    release = threading.Event()
    job = service.queue.submit(lambda _engine, _token: release.wait(30), priority=WINDOW, name="hold")
    return release, job


def _wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.01)


def test_a_full_queue_answers_429_with_retry_after(service: EngineService, client: openai.OpenAI) -> None:
    old_limit = service.queue.max_waiting_api
    service.queue.max_waiting_api = 1
    release, hold = _block_engine(service)
    results: list[Any] = []
    try:
        def ask() -> None:
            results.append(client.chat.completions.create(model="x", messages=HELLO, max_tokens=3))

        first = threading.Thread(target=ask)
        first.start()
        _wait_until(lambda: service.queue.api_counts[1] == 1)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="x", messages=HELLO, max_tokens=3)
        assert int(caught.value.response.headers["retry-after"]) >= 1
        assert "busy" in caught.value.message
    finally:
        service.queue.max_waiting_api = old_limit
        release.set()
    hold.result(timeout=10)
    first.join(30)
    assert results and results[0].choices[0].message.content is not None


def test_window_answer_is_untouched_and_goes_before_waiting_api_jobs(
    service: EngineService, server: ApiServer
) -> None:
    first_token = threading.Event()
    gate = threading.Event()  # holds window answer A's reader while API clients come and go
    story = [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}]

    def on_a_tokens(_text: str) -> None:
        first_token.set()
        gate.wait(30)  # the host keeps generating meanwhile; a wrong Stop would end it

    def window_answer(max_tokens: int, on_tokens: Any = None) -> Any:
        def run(engine: Any, token: Any) -> Any:
            sampling = p.SamplingParams(max_tokens=max_tokens, seed=5)
            result = engine.chat(story, sampling, on_tokens, stop=token)
            return result, time.perf_counter()

        return run

    a = service.queue.submit(window_answer(120, on_a_tokens), priority=WINDOW, name="window-a")
    assert first_token.wait(30)
    done_at: dict[str, float] = {}
    aborted = threading.Event()

    def api_request(name: str) -> None:
        c = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60)
        c.chat.completions.create(model="x", messages=HELLO, max_tokens=4, seed=1)
        done_at[name] = time.perf_counter()

    def api_request_that_gives_up() -> None:
        # The client leaves while its job waits: the server cancels that job, and only that one.
        body = {"model": "x", "messages": HELLO, "max_tokens": 4, "stream": True}
        try:
            _raw(server, "/chat/completions", body, timeout=0.5)
        except TimeoutError:
            aborted.set()

    impatient = threading.Thread(target=api_request_that_gives_up)
    impatient.start()
    _wait_until(lambda: service.queue.api_counts[1] == 1)
    threads = [threading.Thread(target=api_request, args=(f"api-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    impatient.join(30)
    assert aborted.is_set(), "the impatient client should have timed out while its job waited"
    _wait_until(lambda: service.queue.api_counts[1] == 2)  # its job left the queue; the others wait
    b = service.queue.submit(window_answer(5), priority=WINDOW, name="window-b")
    gate.set()
    for thread in threads:
        thread.join(60)
    (_a_text, a_stats), _a_done = a.result(timeout=60)
    (_b_text, b_stats), b_done = b.result(timeout=60)

    assert a_stats.engine.finish_reason in ("length", "stop")  # not "cancelled"
    assert a_stats.engine.finish_reason == "stop" or a_stats.engine.generated_tokens == 120
    assert b_stats.engine.finish_reason in ("length", "stop")
    assert set(done_at) == {"api-0", "api-1"}
    assert all(b_done < t for t in done_at.values())  # the window's later question went first
    _wait_until(lambda: not service.queue.busy)
    assert service.queue.api_counts == (0, 0)


def test_no_model_loaded_is_503(tmp_path: Path) -> None:
    svc = EngineService(EngineClient(log_path=tmp_path / "engine.log"))
    api = ApiServer(svc, port=0, api_key=KEY)
    api.start()
    try:
        c = openai.OpenAI(base_url=api.base_url, api_key=KEY, max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:
            c.chat.completions.create(model="x", messages=HELLO, max_tokens=3)
        assert caught.value.status_code == 503 and "No model is loaded" in caught.value.message
    finally:
        api.stop()
        svc.shutdown()


def test_a_busy_port_is_a_plain_error(server: ApiServer, service: EngineService) -> None:
    with pytest.raises(ApiServerError, match="already in use"):
        ApiServer(service, port=server.port, api_key=KEY).start()


# ---- enclave serve ------------------------------------------------------------------------
def test_enclave_serve_serves_until_ctrl_c(instruct_model_path: Path, enclave_home: Path) -> None:
    env = {**os.environ, "ENCLAVE_HOME": str(enclave_home), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--model", str(instruct_model_path), "--port", "0",
         "--api-key", KEY, "--ctx", "1024"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Serving "):
                url = line.split(" at ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:"), "".join(lines)
        c = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
        reply = c.chat.completions.create(model="x", messages=HELLO, max_tokens=4)
        assert reply.choices[0].message.content is not None
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        lines.append(rest)
        assert process.returncode == 0, "".join(lines)
        assert "Stopping" in rest
        assert "Say hello" not in "".join(lines)  # the request is logged without its text
        assert "POST /v1/chat/completions 200" in "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_enclave_serve_says_plainly_when_the_model_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--model", str(tmp_path / "nope.gguf")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "There is no model file at" in result.stderr and "Traceback" not in result.stderr
