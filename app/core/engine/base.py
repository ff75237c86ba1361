"""What every engine is: the one interface the chat session, the CLI, the documents step and the
local API talk to, whatever answers behind it.

Two kinds implement it: `EngineClient` (client.py: the model in a child process on this
computer) and `RemoteEngine` (remote.py: a company's OpenAI-compatible server). Code above this
layer never asks which one it has, except to tell the user where their words go (`where`).

Errors are `EngineError` with a `kind` (protocol.ERROR_*), so callers react without parsing
messages; the text in `message` is a plain sentence for the person at the screen. A failure in
the middle of an answer never loses what had arrived: the caller keeps the streamed text (it saw
every piece through `on_tokens`) and `EngineError.partial_text` repeats it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from app.core.cancel import CancelToken
from app.core.engine import protocol as p
from app.core.engine.crash_cause import CrashCause
from app.core.errors import PlainError

LOCAL_PLACE = "this computer"
# Every engine hands streamed text on at most this often (the first piece at once), so a fast
# model never floods the window's event loop.
TOKEN_FLUSH_INTERVAL_S = 1 / 30


class EngineError(PlainError):
    """The engine answered with an error; `kind` is one of protocol.ERROR_*."""

    def __init__(self, kind: str, message: str, partial_text: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.partial_text = partial_text  # what the answer had said before it failed


class EngineCrashed(EngineError):
    """The local host process died. `log_tail` has its last log lines, for the details view;
    `cause` says why, from its exit and its log (crash_cause.CrashCause; None if unknown)."""

    def __init__(
        self, message: str, log_tail: str, exit_code: int | None, cause: CrashCause | None = None
    ) -> None:
        super().__init__("crashed", message)
        self.log_tail = log_tail
        self.exit_code = exit_code
        self.cause = cause


@dataclass(frozen=True)
class ClientChatStats:
    """What the client saw, next to what the engine measured."""

    engine: p.ChatStats
    time_to_first_token_s: float  # request sent -> first token received
    client_tokens_per_s: float  # tokens after the first / time between first and last arrival
    total_s: float
    source: str = LOCAL_PLACE  # where the answer came from: this computer, or the server's host
    model: str = ""  # the model that answered (file name, or the server's model id)


TokenSink = Callable[[str], None]


@runtime_checkable
class Engine(Protocol):
    """One request at a time is enough for callers: EngineQueue (queue.py) orders them."""

    @property
    def is_remote(self) -> bool: ...

    @property
    def where(self) -> str:
        """Where prompts go, in words: "this computer", or the server's host name."""
        ...

    @property
    def model_name(self) -> str:
        """The model that answers now ("" when none is loaded or chosen)."""
        ...

    @property
    def is_ready(self) -> bool:
        """True when a chat request can be answered now."""
        ...

    def chat(
        self,
        messages: list[dict[str, str]],
        sampling: p.SamplingParams | None = None,
        on_tokens: TokenSink | None = None,
        cache_key: str | None = None,
        stop: CancelToken | None = None,
        extras: p.ChatExtras | None = None,
    ) -> tuple[str, ClientChatStats]: ...

    def complete(
        self,
        prompt: str,
        sampling: p.SamplingParams | None = None,
        on_tokens: TokenSink | None = None,
        stop: CancelToken | None = None,
        extras: p.ChatExtras | None = None,
    ) -> tuple[str, ClientChatStats]: ...

    def embed(
        self, texts: list[str], model_path: Path | str | None = None, kind: str = "document"
    ) -> list[list[float]]: ...

    def list_models(self) -> list[str]: ...

    def cancel(self) -> None:
        """Stop the request that runs now, as soon as possible. Safe from any thread."""
        ...

    def shutdown(self) -> None: ...
