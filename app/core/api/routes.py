"""The FastAPI app: OpenAI's /v1 endpoints on Enclave's engine queue.

Each request is one job on `service.queue` with priority API: it waits behind the window's
work, and cancelling it (the client went away) stops only that job. Streaming answers are
Server-Sent Events in OpenAI's chunk format; the final chunk carries a non-standard `enclave`
field with llama.cpp's own speed figures, so a client can compare what it saw with what the
engine did. Nothing here logs a prompt, an answer or a key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core import paths
from app.core.api.auth import KeyCheck
from app.core.api.bridge import DONE, FAILED, TOKENS, TokenBridge
from app.core.api.errors import ApiError, error_for, log, not_ready
from app.core.api.schemas import ChatCompletionBody, CompletionBody, EmbeddingBody
from app.core.cancel import CancelToken
from app.core.engine import protocol as p
from app.core.engine.base import ClientChatStats, Engine, EngineCrashed, TokenSink
from app.core.engine.queue import API, EngineJob
from app.core.engine.service import EngineService

SSE_PING_S = 15  # keeps proxies and clients from closing a stream that waits in the queue
TOKENS_PER_S_HEADER = "X-Enclave-Engine-Tokens-Per-S"

Work = Callable[[Engine, CancelToken, TokenSink | None], Any]


class ClientGone(Exception):
    """The HTTP client disconnected before its answer was ready."""


# ---- running a job ----------------------------------------------------------------------
def _submit(
    service: EngineService, work: Work, bridge: TokenBridge, name: str, stream: bool
) -> EngineJob[Any]:
    sink = bridge.tokens if stream else None

    def run(engine: Engine, token: CancelToken) -> Any:
        return work(engine, token, sink)

    try:
        job = service.queue.submit(run, priority=API, name=name)
    except Exception as exc:  # QueueFull -> 429, a closed queue -> 503
        raise error_for(exc) from exc
    job.future.add_done_callback(bridge.finished)
    return job


async def _disconnected(request: Request) -> None:
    """Returns when the client closes the connection (the body was already read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _next_or_gone(request: Request, bridge: TokenBridge, job: EngineJob[Any]) -> tuple[str, Any]:
    """The bridge's next event; if the client leaves first, cancel the job and raise ClientGone."""
    waiter = asyncio.ensure_future(bridge.next())
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _pending = await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        job.cancel()
        waiter.cancel()
        raise
    finally:
        gone.cancel()
    if waiter in done:
        return waiter.result()
    waiter.cancel()
    job.cancel()
    raise ClientGone()


def _failure(service: EngineService, exc: BaseException) -> ApiError:
    if isinstance(exc, EngineCrashed):
        service.call_soon(service.report_crash, exc)  # the window learns the model is gone
    return error_for(exc)


def _ensure_ready(service: EngineService) -> None:
    if not service.is_ready:
        raise not_ready(service.is_loading)


# ---- what goes out ----------------------------------------------------------------------
def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _finish_reason(stats: ClientChatStats) -> str:
    reason = stats.engine.finish_reason
    return reason if reason in ("stop", "length", "tool_calls") else "stop"


def _usage(stats: ClientChatStats) -> dict[str, int]:
    prompt, completion = stats.engine.prompt_tokens, stats.engine.generated_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _enclave_stats(stats: ClientChatStats) -> dict[str, Any]:
    """Non-standard figures (the `enclave` field): llama.cpp's own speed for this answer."""
    engine = stats.engine
    return {
        "engine_eval_tokens_per_s": round(engine.engine_eval_tokens_per_s, 3),
        "engine_prompt_tokens_per_s": round(engine.engine_prompt_tokens_per_s, 3),
        "prompt_tokens_evaluated": engine.prompt_tokens_evaluated,
        "time_to_first_token_s": round(engine.time_to_first_token_s, 4),
        "source": stats.source,
    }


def _stats_headers(stats: ClientChatStats) -> dict[str, str]:
    return {TOKENS_PER_S_HEADER: f"{stats.engine.engine_eval_tokens_per_s:.3f}"}


class _Ids:
    def __init__(self, prefix: str, model: str) -> None:
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def envelope(self, kind: str, **fields: Any) -> dict[str, Any]:
        """One reply or stream chunk of this request, as OpenAI shapes them: id, object (kind),
        created and model first, then `fields`."""
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model, **fields}


# ---- request bodies -> engine arguments -------------------------------------------------
def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ApiError(400, "This model reads text only: send message content as text.")
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise ApiError(400, "A message's content must be text.")


def _messages(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not raw:
        raise ApiError(400, "Send at least one message.")
    messages = []
    for item in raw:
        role = item.get("role")
        if not isinstance(role, str) or not role:
            raise ApiError(400, "Every message needs a role: system, user, assistant or tool.")
        message: dict[str, Any] = {
            "role": "system" if role == "developer" else role,
            "content": _content_text(item.get("content")),
        }
        for key in ("name", "tool_calls", "tool_call_id"):
            if item.get(key) is not None:
                message[key] = item[key]
        messages.append(message)
    return messages


def _one_answer(n: int) -> None:
    if n != 1:
        raise ApiError(400, "Enclave gives one answer per request: n must be 1.")


# ---- the app ----------------------------------------------------------------------------
def create_app(service: EngineService, keys: KeyCheck) -> FastAPI:
    app = FastAPI(title="Enclave", docs_url=None, redoc_url=None, openapi_url=None)
    started = int(time.time())

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(ClientGone)
    async def client_gone(_request: Request, _exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody reads it; nginx's code for "client closed"

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:3]:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
        return ApiError(400, "The request is not valid: " + "; ".join(problems) + ".").response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "There is no such endpoint here." if exc.status_code == 404 else str(exc.detail)
        return ApiError(exc.status_code, message).response()

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model_loaded": service.is_ready}

    def require_key(authorization: str | None = Header(default=None)) -> None:
        keys.check(authorization)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])

    @v1.get("/models")
    def models() -> dict[str, Any]:
        names = list(service.engine.list_models()) if service.is_ready else []
        names.append(paths.default_embedding_model().stem)
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": started, "owned_by": "enclave"} for n in names],
        }

    @v1.post("/chat/completions")
    async def chat_completions(body: ChatCompletionBody, request: Request) -> Response:
        _one_answer(body.n)
        messages = _messages(body.messages)
        _ensure_ready(service)
        max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
        sampling = body.sampling(max_tokens, default_max_tokens=0)
        extras = p.ChatExtras(
            response_format=body.response_format,
            tools=body.tools,
            tool_choice=body.tool_choice,
            stop=body.stop_list(),
        )

        def work(engine: Engine, token: CancelToken, sink: TokenSink | None) -> Any:
            return engine.chat(messages, sampling, on_tokens=sink, stop=token, extras=extras)

        ids = _Ids("chatcmpl", service.model_name)
        return await _answer(request, work, ids, body.stream, body.include_usage(), _chat_chunks, _chat_reply)

    @v1.post("/completions")
    async def completions(body: CompletionBody, request: Request) -> Response:
        _one_answer(body.n)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if len(prompts) != 1:
            raise ApiError(400, "Send one prompt per request.")
        prompt = prompts[0]
        _ensure_ready(service)
        sampling = body.sampling(body.max_tokens, default_max_tokens=16)  # OpenAI's default here
        extras = p.ChatExtras(stop=body.stop_list())

        def work(engine: Engine, token: CancelToken, sink: TokenSink | None) -> Any:
            return engine.complete(prompt, sampling, on_tokens=sink, stop=token, extras=extras)

        ids = _Ids("cmpl", service.model_name)
        echo = prompt if body.echo else ""
        return await _answer(
            request, work, ids, body.stream, body.include_usage(),
            partial(_completion_chunks, echo=echo), partial(_completion_reply, echo=echo),
        )

    @v1.post("/embeddings")
    async def embeddings(body: EmbeddingBody, request: Request) -> Response:
        texts = _embedding_texts(body.input)
        if body.encoding_format not in ("float", "base64"):
            raise ApiError(400, "encoding_format must be 'float' or 'base64'.")
        model_path = paths.default_embedding_model()

        def work(_engine: Engine, _token: CancelToken, _sink: TokenSink | None) -> Any:
            return service.local.embed(texts, model_path)  # the bundled embedder, on this computer

        bridge = TokenBridge(asyncio.get_running_loop())
        job = _submit(service, work, bridge, "api-embeddings", stream=False)
        kind, value = await _next_or_gone(request, bridge, job)
        if kind == FAILED:
            raise _failure(service, value)
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(vector, body.encoding_format)}
            for i, vector in enumerate(value)
        ]
        # The engine does not report token counts for embeddings; 0 says "not measured".
        return JSONResponse(
            {"object": "list", "data": data, "model": model_path.stem,
             "usage": {"prompt_tokens": 0, "total_tokens": 0}}
        )

    async def _answer(
        request: Request,
        work: Work,
        ids: _Ids,
        stream: bool,
        include_usage: bool,
        chunks: Callable[..., AsyncIterator[str]],
        reply: Callable[[_Ids, str, ClientChatStats], dict[str, Any]],
    ) -> Response:
        bridge = TokenBridge(asyncio.get_running_loop())
        job = _submit(service, work, bridge, "api-stream" if stream else "api", stream)
        first = await _next_or_gone(request, bridge, job)
        if first[0] == FAILED:
            raise _failure(service, first[1])  # before any token: a real HTTP error status
        if not stream:
            text, stats = first[1]
            return JSONResponse(reply(ids, text, stats), headers=_stats_headers(stats))

        async def events() -> AsyncIterator[str]:
            try:
                async for event in chunks(first, bridge, ids, include_usage, service):
                    yield event
            finally:
                if not job.future.done():
                    job.cancel()  # the client left mid-answer: stop only this job

        return EventSourceResponse(events(), ping=SSE_PING_S, sep="\n")

    app.include_router(v1)
    return app


def _usage_chunk(ids: _Ids, kind: str, stats: ClientChatStats) -> str:
    """The last chunk of a stream with `stream_options.include_usage`: no choices, the usage."""
    return _dumps(ids.envelope(kind, choices=[], usage=_usage(stats), enclave=_enclave_stats(stats)))


# ---- chat ----------------------------------------------------------------------------------
def _chat_reply(ids: _Ids, text: str, stats: ClientChatStats) -> dict[str, Any]:
    calls = list(stats.engine.tool_calls)
    message: dict[str, Any] = {"role": "assistant", "content": text if (text or not calls) else None}
    if calls:
        message["tool_calls"] = calls
    return ids.envelope(
        "chat.completion",
        choices=[{"index": 0, "message": message, "finish_reason": _finish_reason(stats), "logprobs": None}],
        usage=_usage(stats),
        enclave=_enclave_stats(stats),
    )


async def _chat_chunks(
    first: tuple[str, Any], bridge: TokenBridge, ids: _Ids, include_usage: bool, service: EngineService
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        value = ids.envelope(
            "chat.completion.chunk",
            choices=[{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        )
        if include_usage:
            value["usage"] = None
        value.update(extra)
        return _dumps(value)

    role_sent = False
    event = first
    while True:
        kind, value = event
        if kind == TOKENS:
            delta = {"content": value} if role_sent else {"role": "assistant", "content": value}
            role_sent = True
            yield chunk(delta)
        elif kind == DONE:
            _text, stats = value
            if not role_sent:
                yield chunk({"role": "assistant", "content": ""})
            calls = stats.engine.tool_calls
            if calls:
                yield chunk({"tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]})
            yield chunk({}, _finish_reason(stats), enclave=_enclave_stats(stats))
            if include_usage:
                yield _usage_chunk(ids, "chat.completion.chunk", stats)
            yield "[DONE]"
            return
        else:  # failed after the answer began: OpenAI's clients raise APIError for this
            yield _dumps(_failure(service, value).body())
            return
        event = await bridge.next()


# ---- completions ---------------------------------------------------------------------------
def _completion_reply(ids: _Ids, text: str, stats: ClientChatStats, echo: str = "") -> dict[str, Any]:
    return ids.envelope(
        "text_completion",
        choices=[{"index": 0, "text": echo + text, "finish_reason": _finish_reason(stats), "logprobs": None}],
        usage=_usage(stats),
        enclave=_enclave_stats(stats),
    )


async def _completion_chunks(
    first: tuple[str, Any],
    bridge: TokenBridge,
    ids: _Ids,
    include_usage: bool,
    service: EngineService,
    echo: str = "",
) -> AsyncIterator[str]:
    def chunk(text: str, finish: str | None = None, **extra: Any) -> str:
        value = ids.envelope(
            "text_completion",
            choices=[{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
        )
        if include_usage:
            value["usage"] = None
        value.update(extra)
        return _dumps(value)

    if echo:
        yield chunk(echo)
    event = first
    while True:
        kind, value = event
        if kind == TOKENS:
            yield chunk(value)
        elif kind == DONE:
            _text, stats = value
            yield chunk("", _finish_reason(stats), enclave=_enclave_stats(stats))
            if include_usage:
                yield _usage_chunk(ids, "text_completion", stats)
            yield "[DONE]"
            return
        else:
            yield _dumps(_failure(service, value).body())
            return
        event = await bridge.next()


# ---- embeddings ----------------------------------------------------------------------------
def _embedding_texts(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else list(value)
    if not texts:
        raise ApiError(400, "Send at least one text to embed.")
    if not all(isinstance(t, str) for t in texts):
        raise ApiError(400, "Send the texts themselves; token ids are not supported here.")
    return texts


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def log_requests(app: Any) -> Any:
    """ASGI middleware: one log line per request (method, path, status, seconds), no bodies."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_logged(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, send_logged)
        finally:
            elapsed = time.perf_counter() - started
            log.info("%s %s %d %.2f s", scope.get("method"), scope.get("path"), status, elapsed)

    return middleware
