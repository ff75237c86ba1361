"""What went wrong with a company's server, as an EngineError a person can act on.

The `openai` client raises its own exception classes (wrapping httpx2's); callers of the engine
should never see those, nor parse messages: `describe_failure` turns each into one of the
protocol's ERROR_* kinds with a plain sentence, and keeps the text that had already arrived.
"""

from __future__ import annotations

import re
from typing import Any

from app.core.engine import protocol as p
from app.core.engine.base import EngineError
from app.core.i18n import number, translate, translate_noop

MAX_SERVER_WORDS = 160  # characters of the server's own message we repeat

# translate("remote_errors", CUT_OFF_SENTENCE) where it is raised
CUT_OFF_SENTENCE = translate_noop(
    "remote_errors", "The server stopped in the middle of the answer. What arrived is kept."
)

_CONTEXT_WORDS = re.compile(
    r"context[ _-]?length|context window|maximum context|too many tokens|prompt is too long|"
    r"exceeds? (the )?(model'?s? )?(context|maximum)|n_ctx|longer than the model",
    re.IGNORECASE,
)


def unreachable_sentence(place: str) -> str:
    return translate(
        "remote_errors",
        "Enclave cannot reach the server at {server}. Check the address, or ask your IT "
        "department whether it is running.",
    ).format(server=place)


def server_said(exc: Any) -> str:
    """The server's own words from an error answer, on one line and not too long."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            text = str(error.get("message") or error.get("detail") or "")
        elif error:
            text = str(error)
        if not text and body.get("detail"):
            text = str(body["detail"])
    elif isinstance(body, str):
        text = body
    if not text:
        response = getattr(exc, "response", None)
        try:
            text = response.text if response is not None else ""
        except Exception:  # a streamed body not read: nothing more to say
            text = ""
    if not text:
        text = str(getattr(exc, "message", "") or exc)
    text = " ".join(text.split())
    if len(text) > MAX_SERVER_WORDS:
        text = text[: MAX_SERVER_WORDS - 1].rstrip() + "…"
    return text


def is_context_too_long(exc: Any) -> bool:
    body = getattr(exc, "body", None)
    code = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            code = str(error.get("code") or error.get("type") or "")
    return code == "context_length_exceeded" or bool(_CONTEXT_WORDS.search(server_said(exc)))


def mentions_stream_options(exc: Any) -> bool:
    """A server that refuses `stream_options` (older ones validate every field)."""
    words = server_said(exc).lower()
    return "stream_options" in words or "include_usage" in words


def describe_failure(
    exc: BaseException,
    place: str,
    *,
    partial_text: str = "",
    started_answer: bool = False,
    stall_timeout_s: float = 30.0,
    has_key: bool = True,
    model: str = "",
) -> EngineError:
    """The EngineError for `exc`, raised while talking to the server at `place`.

    `started_answer`: the server had begun streaming (a drop is then a cut-off answer, not an
    unreachable server)."""
    import httpx2
    import openai

    if isinstance(exc, EngineError):
        if partial_text and not exc.partial_text:
            exc.partial_text = partial_text
        return exc
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, place, partial_text, has_key, model)
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)) or isinstance(
        cause, httpx2.TimeoutException
    ):
        if isinstance(cause, (httpx2.ConnectTimeout, httpx2.PoolTimeout)):
            return EngineError(p.ERROR_UNREACHABLE, unreachable_sentence(place), partial_text)
        return stalled_error(place, stall_timeout_s, partial_text, started_answer)
    if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError)):
        if isinstance(cause, (httpx2.ConnectError, httpx2.UnsupportedProtocol, httpx2.ProxyError)):
            return EngineError(p.ERROR_UNREACHABLE, unreachable_sentence(place), partial_text)
        if started_answer:
            return EngineError(p.ERROR_CUT_OFF, translate("remote_errors", CUT_OFF_SENTENCE), partial_text)
        return EngineError(
            p.ERROR_UNREACHABLE,
            translate(
                "remote_errors",
                "The server at {server} closed the connection before it answered. Try again, or ask "
                "your IT department whether it is running.",
            ).format(server=place),
            partial_text,
        )
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        if is_context_too_long(exc):
            return _context_error(partial_text)
        return EngineError(
            p.ERROR_SERVER,
            translate("remote_errors", "The server at {server} reported an error: {words}").format(
                server=place, words=server_said(exc)
            ),
            partial_text,
        )
    return EngineError(
        p.ERROR_SERVER,
        translate(
            "remote_errors", "The server at {server} sent an answer Enclave does not understand ({problem})."
        ).format(server=place, problem=type(exc).__name__),
        partial_text,
    )


def stalled_error(place: str, seconds: float, partial_text: str, started_answer: bool) -> EngineError:
    if started_answer:
        message = translate(
            "remote_errors",
            "The server at {server} sent nothing more for {seconds} seconds. What arrived is kept.",
        )
    else:
        message = translate(
            "remote_errors",
            "The server at {server} did not answer within {seconds} seconds. It may be busy; try again, "
            "or ask your IT department.",
        )
    return EngineError(p.ERROR_STALLED, message.format(server=place, seconds=_seconds(seconds)), partial_text)


def _seconds(value: float) -> str:
    """As many decimals as the value has ("30", "2.5"), in the reader's number format."""
    shown = f"{value:g}"
    decimals = len(shown.partition(".")[2]) if "e" not in shown else 0
    return number(value, decimals)


def _context_error(partial_text: str) -> EngineError:
    return EngineError(
        p.ERROR_CONTEXT_TOO_LONG,
        translate(
            "remote_errors",
            "The conversation is too long for the model on the server. Start a new conversation, "
            "or use fewer documents.",
        ),
        partial_text,
    )


def _status_error(exc: Any, place: str, partial_text: str, has_key: bool, model: str) -> EngineError:
    status = int(getattr(exc, "status_code", 0) or 0)
    if status in (401, 403):
        if has_key:
            message = translate(
                "remote_errors",
                "The server at {server} refused the key. Check the key in Settings, or ask your "
                "IT department for a new one.",
            )
        else:
            message = translate(
                "remote_errors",
                "The server at {server} needs a key. Enter it in Settings (ask your IT department).",
            )
        return EngineError(p.ERROR_UNAUTHORIZED, message.format(server=place), partial_text)
    if status in (400, 413, 422) and is_context_too_long(exc):
        return _context_error(partial_text)
    if status == 404:
        if model:
            message = translate(
                "remote_errors",
                "The server at {server} does not have the model “{model}” ({words}). Check the "
                "address and the model in Settings.",
            )
        else:
            message = translate(
                "remote_errors",
                "The server at {server} does not have what Enclave asked for ({words}). Check the "
                "address and the model in Settings.",
            )
        return EngineError(
            p.ERROR_SERVER, message.format(server=place, model=model, words=server_said(exc)), partial_text
        )
    if status == 429:
        return EngineError(
            p.ERROR_SERVER,
            translate("remote_errors", "The server at {server} is busy. Try again in a moment.").format(
                server=place
            ),
            partial_text,
        )
    return EngineError(
        p.ERROR_SERVER,
        translate(
            "remote_errors", "The server at {server} answered with an error ({status}): {words}"
        ).format(server=place, status=status, words=server_said(exc)),
        partial_text,
    )
