"""The remote engine: a company's OpenAI-compatible server (vLLM, llama.cpp's server, Ollama,
LiteLLM...) answering instead of the model on this computer.

    engine = RemoteEngine("http://ai-box:8000", api_key, "qwen2.5-7b-instruct")
    text, stats = engine.chat([{"role": "user", "content": "Hello"}], on_tokens=print)

It implements base.Engine with the official `openai` client (sync, `max_retries=0`: a person is
waiting, so a failure is reported at once rather than retried in silence). Answers stream; the
deltas reach `on_tokens` in batches at most ~30 times a second like the local engine's, the
first at once. The caller's thread reads the stream itself (nothing between the socket and the
first token), and one watcher thread per engine (remote_stream.py) shuts the socket down when
Stop is pressed, `cancel()` is called or nothing came for `stall_timeout_s`, which wakes even a
blocked read.

Failures are EngineError with a protocol kind (remote_errors.py); text that had streamed is
kept in `partial_text`. Only the standard OpenAI sampling fields are sent (temperature, top_p,
max_tokens, seed, stop): top_k, min_p and the repeat penalty are the server's own defaults, so
servers that reject unknown fields still answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.cancel import CancelToken
from app.core.engine import protocol as p
from app.core.engine.base import TOKEN_FLUSH_INTERVAL_S, ClientChatStats, EngineError, TokenSink
from app.core.engine.remote_address import normalize_base_url, place_of
from app.core.engine.remote_answer import StreamedAnswer
from app.core.engine.remote_errors import (
    CUT_OFF_SENTENCE,
    describe_failure,
    mentions_stream_options,
    stalled_error,
)
from app.core.engine.remote_stream import CANCELLED, STALLED, StreamWatcher, WatchedAnswer
from app.core.i18n import number, translate, translate_noop

if TYPE_CHECKING:
    from app.core.engine.service import EngineService
    from app.core.settings import Settings

log = logging.getLogger("enclave.engine.remote")

# The socket's own read timeout, a little after the watcher's stall clock: it is what ends the
# wait for the response's headers, which the watcher cannot interrupt.
READ_GRACE_S = 0.5
EMBED_TIMEOUT_S = 120.0  # an embedding answer comes whole, after the server has done all texts
WRITE_TIMEOUT_S = 30.0
NO_KEY = "no-key"  # the openai client insists on a key; servers without keys ignore this one
NO_MODEL_SENTENCE = translate_noop("remote", "No model is chosen for the server. Choose one in Settings.")


class _StreamOptionsRefused(EngineError):
    """The server refused `stream_options` (it validates every field): ask again without."""


class _DroppedBeforeAnswer(EngineError):
    """The connection closed before any response: worth one more try on a fresh connection."""


def _is_dropped_connection(exc: BaseException) -> bool:
    import httpx2
    import openai

    if not isinstance(exc, openai.APIConnectionError) or isinstance(exc, openai.APITimeoutError):
        return False
    return isinstance(exc.__cause__, (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError))


class RemoteEngine:
    """base.Engine for an OpenAI-compatible server. Blocking calls are for a worker thread;
    `cancel()` and `shutdown()` are safe from any thread."""

    is_remote = True

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = "",
        *,
        stall_timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        embedding_model: str = "",
    ) -> None:
        import httpx2
        import openai

        self.base_url = normalize_base_url(base_url)
        from app.core.policy_rules import server_refusal

        refusal = server_refusal(self.base_url)  # the organisation's allowed_servers
        if refusal:
            raise EngineError(p.ERROR_NOT_ALLOWED, refusal)
        self.model = model.strip()
        self.embedding_model = embedding_model.strip()  # "" = the chat model
        self.stall_timeout_s = float(stall_timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self._has_key = bool(api_key and api_key.strip())
        self._place = place_of(self.base_url)
        self._timeout = httpx2.Timeout(
            connect=self.connect_timeout_s,
            read=self.stall_timeout_s,
            write=WRITE_TIMEOUT_S,
            pool=self.connect_timeout_s,
        )
        self._stream_timeout = httpx2.Timeout(
            connect=self.connect_timeout_s,
            read=self.stall_timeout_s + READ_GRACE_S,
            write=WRITE_TIMEOUT_S,
            pool=self.connect_timeout_s,
        )
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key.strip() if api_key and api_key.strip() else NO_KEY,
            max_retries=0,
            timeout=self._timeout,
        )
        # Never send OPENAI_ORG_ID / OPENAI_PROJECT_ID (meant for OpenAI itself) to this server.
        self._client.organization = None
        self._client.project = None
        self._generate_lock = threading.Lock()  # one answer at a time (EngineQueue orders them)
        self._cancel = threading.Event()
        self._watcher = StreamWatcher()
        self._watched: WatchedAnswer | None = None
        self._usage_in_stream: bool | None = None  # None: not known yet whether the server takes it
        self._closed = False

    # ---- what base.Engine asks ----------------------------------------------------------
    @property
    def where(self) -> str:
        return self._place

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def is_ready(self) -> bool:
        return bool(self.model) and not self._closed

    def list_models(self) -> list[str]:
        """The model ids the server offers (GET /v1/models)."""
        try:
            page = self._client.models.list()
            return [str(m.id) for m in page.data]
        except Exception as exc:
            raise self._failure(exc) from exc

    def test_connection(self) -> tuple[bool, str, list[str]]:
        """For Settings' "Test" button: (worked, a sentence for the user, the server's models).

        Lists the models, then, when a model is chosen, asks it for one token: some servers
        list models without checking the key, and only an answer proves the key works."""
        try:
            models = self.list_models()
        except EngineError as exc:
            return False, exc.message, []
        if not models:
            text = translate("remote", "Connected to {server}, but the server offers no models.")
            return True, text.format(server=self._place), []
        if not self.model:
            text = translate(
                "remote", "Connected to {server}: %n models available. Choose one.", n=len(models)
            )
            return True, text.format(server=self._place), models
        if self.model not in models:
            text = translate(
                "remote", "Connected to {server}, but it has no model “{model}”. Choose one of its models."
            )
            return False, text.format(server=self._place, model=self.model), models
        try:
            _, stats = self.chat(
                [{"role": "user", "content": "Hi"}], p.SamplingParams(max_tokens=1, temperature=0.0)
            )
        except EngineError as exc:
            return False, exc.message, models
        text = translate("remote", "Connected to {server}. “{model}” answered in {seconds} s.")
        return (
            True,
            text.format(server=self._place, model=self.model, seconds=number(stats.total_s, 1)),
            models,
        )

    def embed(
        self,
        texts: list[str],
        model_path: Path | str | None = None,
        kind: str = "document",
        *,
        model: str | None = None,
    ) -> list[list[float]]:
        """Vectors from the server's /v1/embeddings. `model_path` (a local file) is ignored: the
        server embeds with `model`, else `embedding_model`, else the chat model. `kind` too:
        which prompt a server's model wants is the server's business."""
        if not texts:
            return []
        model = model or self.embedding_model or self.model
        if not model:
            raise EngineError(p.ERROR_NOT_LOADED, translate("remote", NO_MODEL_SENTENCE))
        try:
            answer = self._client.with_options(timeout=EMBED_TIMEOUT_S).embeddings.create(
                model=model, input=list(texts), encoding_format="float"
            )
        except Exception as exc:
            raise self._failure(exc, model=model) from exc
        rows = sorted(answer.data, key=lambda row: row.index)
        if len(rows) != len(texts):
            raise EngineError(
                p.ERROR_SERVER,
                translate(
                    "remote", "The server at {server} returned {embeddings} embeddings for {texts} texts."
                ).format(server=self._place, embeddings=len(rows), texts=len(texts)),
            )
        return [[float(x) for x in row.embedding] for row in rows]

    def chat(
        self,
        messages: list[dict[str, str]],
        sampling: p.SamplingParams | None = None,
        on_tokens: TokenSink | None = None,
        cache_key: str | None = None,
        stop: CancelToken | None = None,
        extras: p.ChatExtras | None = None,
    ) -> tuple[str, ClientChatStats]:
        """Stream one answer (cache_key is for the local engine; a server keeps its own cache)."""
        extras = extras or p.ChatExtras()
        base = self._sampling_fields(sampling, extras)
        if extras.response_format is not None:
            base["response_format"] = extras.response_format
        if extras.tools:
            base["tools"] = extras.tools
            if extras.tool_choice is not None:
                base["tool_choice"] = extras.tool_choice

        def open_stream(with_usage: bool) -> Any:
            extra = {"stream_options": {"include_usage": True}} if with_usage else {}
            create: Any = self._client.chat.completions.create  # fields vary: no overload fits
            return create(
                model=self.model,
                messages=messages,
                stream=True,
                timeout=self._stream_timeout,
                **base,
                **extra,
            )

        return self._generate(open_stream, on_tokens, stop, completion=False)

    def complete(
        self,
        prompt: str,
        sampling: p.SamplingParams | None = None,
        on_tokens: TokenSink | None = None,
        stop: CancelToken | None = None,
        extras: p.ChatExtras | None = None,
    ) -> tuple[str, ClientChatStats]:
        """Continue `prompt` as plain text (/v1/completions)."""
        base = self._sampling_fields(sampling, extras or p.ChatExtras())

        def open_stream(with_usage: bool) -> Any:
            extra = {"stream_options": {"include_usage": True}} if with_usage else {}
            create: Any = self._client.completions.create
            return create(
                model=self.model, prompt=prompt, stream=True, timeout=self._stream_timeout, **base, **extra
            )

        return self._generate(open_stream, on_tokens, stop, completion=True)

    def cancel(self) -> None:
        """Stop the answer being streamed now: the connection is dropped, so the server stops
        generating too. The answer ends with finish_reason "cancelled"."""
        self._cancel.set()
        watched = self._watched
        if watched is not None:
            watched.abandon(CANCELLED)

    def shutdown(self) -> None:
        self._closed = True
        self.cancel()
        self._watcher.close()
        try:
            self._client.close()
        except Exception:
            log.debug("closing the server client failed", exc_info=True)

    # ---- streaming ----------------------------------------------------------------------
    @staticmethod
    def _sampling_fields(sampling: p.SamplingParams | None, extras: p.ChatExtras) -> dict[str, Any]:
        s = sampling or p.SamplingParams()
        fields: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens}
        if s.seed is not None:
            fields["seed"] = s.seed
        if extras.stop:
            fields["stop"] = list(extras.stop)
        return fields

    def _generate(
        self,
        open_stream: Callable[[bool], Any],
        on_tokens: TokenSink | None,
        stop: CancelToken | None,
        completion: bool,
    ) -> tuple[str, ClientChatStats]:
        if not self.model:
            raise EngineError(p.ERROR_NOT_LOADED, translate("remote", NO_MODEL_SENTENCE))
        with self._generate_lock:
            self._cancel.clear()
            answer = StreamedAnswer(completion=completion)
            model = self.model
            sent = time.perf_counter()
            if stop is not None and stop.cancelled:  # Stop pressed while it waited in the queue
                return "", answer.stats(sent, sent, "cancelled", self._place, model)
            with_usage = self._usage_in_stream is not False
            retried_drop = False
            while True:
                watched = self._watcher.begin(stop, self.stall_timeout_s)
                self._watched = watched
                try:
                    finish = self._read(open_stream, with_usage, watched, answer, on_tokens, stop)
                except _StreamOptionsRefused:
                    if with_usage and not answer.n_chunks:
                        log.info("%s refuses stream_options; streaming without usage", self._place)
                        self._usage_in_stream = with_usage = False
                        continue
                    raise
                except _DroppedBeforeAnswer:
                    # Most often a kept-alive connection the server had closed meanwhile: one
                    # new attempt (on a new connection) is what any client does.
                    if retried_drop or answer.n_chunks:
                        raise
                    retried_drop = True
                    log.info("%s dropped the connection before answering; trying once more", self._place)
                    continue
                finally:
                    self._watcher.end(watched)
                    self._watched = None
                break
            if with_usage and answer.usage is not None:
                self._usage_in_stream = True
            done = time.perf_counter()
        return answer.text, answer.stats(sent, done, finish, self._place, model)

    def _read(
        self,
        open_stream: Callable[[bool], Any],
        with_usage: bool,
        watched: WatchedAnswer,
        answer: StreamedAnswer,
        on_tokens: TokenSink | None,
        stop: CancelToken | None,
    ) -> str:
        """Send the request and read the stream on this thread; returns the finish reason.

        Text reaches on_tokens in batches: the first piece at once, then whenever a chunk comes
        1/30 s or more after the last call (the local engine's rule)."""
        pending: list[str] = []
        last_flush = 0.0

        def flush() -> None:
            nonlocal last_flush
            if pending:
                text = "".join(pending)
                pending.clear()
                last_flush = time.perf_counter()
                if on_tokens is not None:
                    on_tokens(text)

        def stopped() -> bool:
            return watched.reason == CANCELLED or self._cancel.is_set() or bool(stop and stop.cancelled)

        stream: Any = None
        try:
            try:
                stream = open_stream(with_usage)
            except Exception as exc:
                if stopped():
                    return "cancelled"
                raise self._read_failure(exc, watched, answer) from exc
            watched.attach(stream)
            chunks = iter(stream)
            while True:
                if stopped():
                    flush()
                    return "cancelled"
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                except Exception as exc:
                    flush()
                    if stopped():
                        return "cancelled"
                    raise self._read_failure(exc, watched, answer) from exc
                at = time.perf_counter()
                watched.touch(at)
                first = answer.n_chunks == 0
                text = answer.take(chunk, at)
                if text:
                    pending.append(text)
                    if first or at - last_flush >= TOKEN_FLUSH_INTERVAL_S:
                        flush()
            flush()
            if stopped():
                return "cancelled"
            if watched.reason == STALLED:
                raise stalled_error(self._place, self.stall_timeout_s, answer.text, answer.n_chunks > 0)
            if answer.finish_reason is None:
                raise EngineError(p.ERROR_CUT_OFF, translate("remote_errors", CUT_OFF_SENTENCE), answer.text)
            return answer.finish_reason
        finally:
            watched.finish()
            if stream is not None:
                try:
                    stream.close()  # mid-answer: drops the connection, the server stops
                except Exception:
                    log.debug("closing the stream failed", exc_info=True)

    def _read_failure(
        self, exc: BaseException, watched: WatchedAnswer, answer: StreamedAnswer
    ) -> EngineError:
        if watched.reason == STALLED:
            return stalled_error(self._place, self.stall_timeout_s, answer.text, answer.n_chunks > 0)
        return self._stream_failure(exc, answer)

    def _stream_failure(self, exc: BaseException, answer: StreamedAnswer) -> EngineError:
        error = describe_failure(
            exc,
            self._place,
            partial_text=answer.text,
            started_answer=answer.n_chunks > 0 or answer.finish_reason is not None,
            stall_timeout_s=self.stall_timeout_s,
            has_key=self._has_key,
            model=self.model,
        )
        import openai

        refused = isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 422)
        if refused and mentions_stream_options(exc):
            return _StreamOptionsRefused(error.kind, error.message, error.partial_text)
        if not answer.n_chunks and _is_dropped_connection(exc):
            return _DroppedBeforeAnswer(error.kind, error.message, error.partial_text)
        return error

    def _failure(self, exc: BaseException, model: str = "") -> EngineError:
        return describe_failure(
            exc,
            self._place,
            stall_timeout_s=self.stall_timeout_s,
            has_key=self._has_key,
            model=model or self.model,
        )


# ---- from the user's settings ------------------------------------------------------------
def remote_engine_from_settings(settings: Settings) -> RemoteEngine | None:
    """The server the settings choose, or None for "answer on this computer".

    Reads the key from the OS keyring (which may be slow to unlock: call this off the GUI
    thread). Raises EngineError (bad_request) for an address that is not one."""
    if settings.engine_mode != "server" or not settings.server_url.strip():
        return None
    from app.core.secrets import get_server_key

    return RemoteEngine(settings.server_url, get_server_key(settings.server_url), settings.server_model)


def apply_engine_settings(service: EngineService, settings: Settings) -> str | None:
    """Switch the service to the engine the settings choose. Returns None, or a sentence saying
    why the server could not be used (the service then answers on this computer)."""
    try:
        engine = remote_engine_from_settings(settings)
    except EngineError as exc:
        service.use_remote(None)
        return exc.message
    service.use_remote(engine)
    return None
