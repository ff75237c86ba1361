"""Server answers the real test server (llama_cpp.server) cannot be made to give while streaming
(it fails a too-long prompt after the response has begun): the openai client's own exception
objects, built from real httpx2 responses, turned into EngineError kinds and plain sentences.
And the keyring entry per server address."""

from __future__ import annotations

from typing import Any

import httpx2
import openai

from app.core import secrets
from app.core.engine import protocol as p
from app.core.engine.remote_errors import describe_failure, mentions_stream_options, server_said
from tests.hub_fixtures import MemoryKeyring, memory_keyring

__all__ = ["memory_keyring"]

URL = "http://ai-box:8000/v1/chat/completions"


def status_error(cls: type[openai.APIStatusError], status: int, body: Any) -> openai.APIStatusError:
    response = httpx2.Response(status, request=httpx2.Request("POST", URL), json=body)
    return cls(f"Error code: {status}", response=response, body=body)


def test_context_too_long_from_the_server_words_or_code() -> None:
    vllm = status_error(
        openai.BadRequestError,
        400,
        {"object": "error", "message": "This model's maximum context length is 4096 tokens. However, "
         "you requested 5000 tokens.", "type": "BadRequestError", "code": 400},
    )  # fmt: skip
    coded = status_error(
        openai.BadRequestError, 400, {"error": {"message": "x", "code": "context_length_exceeded"}}
    )
    for exc in (vllm, coded):
        error = describe_failure(exc, "ai-box:8000", partial_text="")
        assert error.kind == p.ERROR_CONTEXT_TOO_LONG and "too long" in error.message


def test_other_statuses_say_the_server_s_words_shortened() -> None:
    long_words = "bad things happened " * 40
    failure = status_error(openai.InternalServerError, 500, {"detail": long_words})
    error = describe_failure(failure, "ai-box:8000", partial_text="Hel")
    assert error.kind == p.ERROR_SERVER and error.partial_text == "Hel"
    assert error.message.startswith("The server at ai-box:8000 answered with an error (500): bad things")
    assert len(error.message) < 250 and error.message.endswith("…")
    slow = status_error(openai.RateLimitError, 429, {"error": {"message": "slow down"}})
    busy = describe_failure(slow, "h")
    assert busy.kind == p.ERROR_SERVER and "busy" in busy.message
    missing = describe_failure(
        status_error(openai.NotFoundError, 404, {"error": {"message": "no such model"}}), "h", model="big"
    )
    assert "does not have the model “big”" in missing.message


def test_a_server_that_refuses_stream_options_is_recognised() -> None:
    refused = status_error(
        openai.UnprocessableEntityError,
        422,
        {"detail": [{"loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted"}]},
    )
    assert mentions_stream_options(refused) and "stream_options" in server_said(refused)


def test_one_key_per_server_address(memory_keyring: MemoryKeyring) -> None:
    secrets.set_server_key("http://AI-Box:8000/v1/", "k1")
    secrets.set_server_key("https://other.corp", "k2")
    assert secrets.get_server_key("http://ai-box:8000") == "k1"
    assert secrets.get_server_key("ai-box:8000") == "k1"
    assert secrets.get_server_key("https://other.corp/v1") == "k2"
    assert secrets.get_server_key("http://ai-box:9000") is None
    assert all("k1" not in name for _service, name in memory_keyring.store)
    secrets.set_server_key("ai-box:8000", "  ")  # empty: forget it
    assert secrets.get_server_key("http://ai-box:8000") is None
    secrets.delete_server_key("http://never-saved")  # nothing saved: fine
