"""OpenAI's error shape, and what each engine failure becomes over HTTP.

Clients written for OpenAI turn the status into an exception (401 -> AuthenticationError,
400 -> BadRequestError, 429 -> RateLimitError and a retry after `Retry-After` seconds) and show
`error.message` to their user, so the message is a plain sentence, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse

from app.core.cancel import Cancelled
from app.core.engine import protocol as p
from app.core.engine.base import EngineCrashed, EngineError
from app.core.engine.queue import QueueFull

log = logging.getLogger("enclave.api")

NO_MODEL = (
    "No model is loaded in Enclave. Load one in Enclave's window, "
    "or start the server with `enclave serve --model FILE.gguf`."
)


class ApiError(Exception):
    """An answer in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": None, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def not_ready(loading: bool) -> ApiError:
    if loading:
        return ApiError(
            503, "A model is loading in Enclave; try again in a moment.", "server_error",
            "model_loading", {"Retry-After": "5"},
        )
    return ApiError(503, NO_MODEL, "server_error", "model_not_loaded")


_ENGINE_STATUS: dict[str, tuple[int, str, str]] = {
    p.ERROR_CONTEXT_TOO_LONG: (400, "invalid_request_error", "context_length_exceeded"),
    p.ERROR_BAD_REQUEST: (400, "invalid_request_error", "bad_request"),
    # The model's chat template cannot format these messages: the request, as sent, cannot work.
    p.ERROR_TEMPLATE: (400, "invalid_request_error", "template_failed"),
    p.ERROR_NOT_LOADED: (503, "server_error", "model_not_loaded"),
    p.ERROR_OUT_OF_MEMORY: (503, "server_error", "out_of_memory"),
    p.ERROR_UNREACHABLE: (502, "server_error", "upstream_unreachable"),
    p.ERROR_UNAUTHORIZED: (502, "server_error", "upstream_unauthorized"),
    p.ERROR_STALLED: (504, "server_error", "upstream_stalled"),
    p.ERROR_CUT_OFF: (502, "server_error", "upstream_cut_off"),
    p.ERROR_SERVER: (502, "server_error", "upstream_error"),
}


def error_for(exc: BaseException) -> ApiError:
    """The HTTP answer for a failure of an engine job (or of submitting it)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QueueFull):
        return ApiError(
            429, str(exc), "rate_limit_error", "rate_limit_exceeded", {"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, EngineCrashed):
        return ApiError(503, exc.message, "server_error", "engine_crashed")
    if isinstance(exc, EngineError):
        if exc.kind == p.ERROR_NOT_LOADED:
            return ApiError(503, NO_MODEL, "server_error", "model_not_loaded")
        status, type_, code = _ENGINE_STATUS.get(exc.kind, (500, "server_error", exc.kind))
        return ApiError(status, exc.message, type_, code)
    if isinstance(exc, Cancelled):
        return ApiError(503, "Enclave is closing or stopped this request.", "server_error", "cancelled")
    if isinstance(exc, RuntimeError) and "queue is closed" in str(exc):
        return ApiError(503, "Enclave is closing.", "server_error", "closing")
    log.error("API request failed: %s", type(exc).__name__, exc_info=exc)
    return ApiError(
        500, "Enclave hit an unexpected error; its log has the details.", "server_error", "internal"
    )
