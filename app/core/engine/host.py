"""The engine host: a child process that owns llama-cpp-python and serves one request at a time.

Why a separate process: a CUDA out-of-memory abort or a segfault in native code kills this
process, not the window; the app notices, shows the last log lines and offers to reload.
Unloading frees memory for real, because the model's buffers belong to this process.

Everything native code prints (llama.cpp's logs) goes to a log file, so the client can show
the last lines when the host dies. The log never contains prompts or answers.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from app.core.chat.templates import fallback_chat_format
from app.core.engine import protocol as p
from app.core.engine import template_guard
from app.core.engine.backends import NoCpuBackend, require_cpu_backend
from app.core.engine.base import TOKEN_FLUSH_INTERVAL_S
from app.core.engine.decode import (
    DecodeLoop,
    _formatter_of,
    chat_prompt,
    completion_prompt,
    library_loop_wanted,
)
from app.core.engine.draft_model import DraftModel, load_draft
from app.core.engine.host_load import (
    FAULT_ENV,
    ProgressHook,
    explain_load_failure,
    gpu_args,
    kv_cache_args,
    refuse_unreadable,
)
from app.core.engine.host_process import (
    physical_cores,
    redirect_native_output,
    tail,
    watch_parent,
    yield_cpu_to_the_window,
)
from app.core.engine.kv_states import ConversationStates, state_budget
from app.core.engine.prompt_lookup import PromptLookup, prompt_lookup_wanted
from app.core.engine.request_args import (
    LibraryStream,
    chat_delta,
    chat_options,
    completion_delta,
    grammar_for,
    sampling_args,
    value_error,
)
from app.core.engine.speculation import DraftSource
from app.core.engine.tool_calls import (
    ToolCallFilter,
    parse_forced_call,
    wants_tools,
)

log = logging.getLogger("enclave.engine.host")

EMBED_MODELS_KEPT = 2  # embedding models kept loaded (the bundled MiniLM is 25 MB)


class HostEngine:
    def __init__(self, conn: Connection, cancel: p.CancelFlag, log_path: str) -> None:
        self.conn = conn
        self.cancel = cancel
        self.log_path = log_path
        self.chat_llm: Any = None
        self.chat_path = ""
        # The embedding models loaded, most recently used last: two, so a search with the
        # model a collection's vectors came from, while it is re-embedded for a new one, does
        # not reload either model at every turn (EMBED_MODELS_KEPT).
        self.embedders: dict[str, Any] = {}
        self.states = ConversationStates(state_budget())
        self.active_key: str | None = None  # whose tokens the KV cache holds now
        self.draft_llm: Any = None  # the chat model's draft model, when one was asked for (draft_model.py)
        self.last_drafter: Any = None  # the last answer's draft counts (speculation.DraftSource)
        import llama_cpp.llama_cpp as raw

        self._raw = raw
        template_guard.install()  # a model's Jinja template gets a deadline and plain errors
        # Checked by llama.cpp between graph nodes, so Stop works within a fraction of a token
        # (and during a long prompt). Measured: no visible cost to decode speed.
        self._abort_cb = raw.ggml_abort_callback(lambda _data: self.cancel.is_set())

    def send(self, message: p.Reply) -> None:
        self.conn.send(message)

    def handle(self, request: p.Request) -> None:
        if isinstance(request, p.LoadRequest):
            self.send(self.load(request))
        elif isinstance(request, p.ChatRequest):
            self.send(self.chat(request))
        elif isinstance(request, p.CompletionRequest):
            self.send(self.complete(request))
        elif isinstance(request, p.EmbedRequest):
            self.send(self.embed(request))
        elif isinstance(request, p.UnloadRequest):
            self.unload()
            self.send(p.Unloaded())
        else:
            self.send(p.EngineError(p.ERROR_BAD_REQUEST, f"Unknown request {type(request).__name__}"))

    # ---- load / unload ------------------------------------------------------------------
    def _free_chat_model(self) -> None:
        self.states.clear()
        self.active_key = None
        if self.draft_llm is not None:
            self.draft_llm.close()
            self.draft_llm = None
        if self.chat_llm is not None:
            self.chat_llm.close()
            self.chat_llm = None
            self.chat_path = ""
            gc.collect()

    def unload(self) -> None:
        self._free_chat_model()
        for runner in self.embedders.values():
            runner.close()
        self.embedders.clear()
        gc.collect()

    def load(self, request: p.LoadRequest) -> p.Loaded | p.EngineError:
        from llama_cpp import Llama

        self._free_chat_model()
        if not os.path.isfile(request.model_path):
            return p.host_error(
                "host", "The file {path} is not there.", p.ERROR_LOAD_FAILED, path=request.model_path
            )
        fault = os.environ.get(FAULT_ENV, "")
        # "no_header_check": tests let llama.cpp meet a file it will abort on (one the check
        # does not know yet would), to prove the crash is reported with its cause.
        refused = None if fault == "no_header_check" else refuse_unreadable(request.model_path)
        if refused is not None:
            return refused
        if fault == "abort_on_gpu_load" and request.n_gpu_layers > 0:
            log.error("ggml_cuda_host_malloc: CUDA error: out of memory (simulated by %s)", FAULT_ENV)
            sys.stderr.flush()
            os.abort()
        log.info(
            "loading %s n_gpu_layers=%d n_ctx=%d kv=%s",
            os.path.basename(request.model_path),
            request.n_gpu_layers,
            request.n_ctx,
            request.kv_type,
        )
        started = time.perf_counter()
        log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        hook = ProgressHook(self.send, self.cancel)
        threads = request.n_threads or physical_cores()
        try:
            with hook.installed():
                llm = Llama(
                    model_path=str(request.model_path),
                    n_gpu_layers=request.n_gpu_layers,
                    n_ctx=request.n_ctx,
                    n_batch=request.n_batch,
                    n_ubatch=request.n_ubatch,
                    swa_full=request.swa_full,
                    **kv_cache_args(request.kv_type),
                    **gpu_args(request),
                    n_threads=threads,
                    n_threads_batch=threads,
                    chat_format=None,
                    verbose=True,
                )
        except Exception as exc:  # llama-cpp-python raises ValueError with no reason; the log has it
            sys.stderr.flush()
            if self.cancel.is_set():
                return p.host_error(
                    "host", "Loading was cancelled.", p.ERROR_LOAD_FAILED, {"cancelled": True}
                )
            new_log = tail(self.log_path, 64_000)[-(os.path.getsize(self.log_path) - log_offset) :]
            kind, sentence = explain_load_failure(new_log + "\n" + str(exc), request.model_path)
            log.error("load failed: %s (%s)", kind, exc)
            return p.EngineError.of(kind, sentence)
        metadata = {str(k): str(v) for k, v in llm.metadata.items() if k != "tokenizer.chat_template"}
        has_template = "tokenizer.chat_template" in llm.metadata
        chat_format = request.chat_format
        if chat_format is None and not has_template:
            chat_format = fallback_chat_format(metadata.get("general.architecture", ""))
        notice: p.Sentence | None = None
        if chat_format is None and llm.chat_format == "chat_template.default":
            problem = template_guard.probe(_formatter_of(llm._chat_handlers.get(llm.chat_format)))
            if problem:
                chat_format = fallback_chat_format(metadata.get("general.architecture", ""))
                notice = p.host_sentence(
                    "host",
                    "{problem} Enclave uses the standard “{format}” format for this model instead.",
                    problem=problem,
                    format=str(chat_format),
                )
                log.warning("chat template replaced by %s", chat_format)
        if chat_format is not None:
            self._apply_chat_format(llm, chat_format)
        if request.draft_model_path:
            self.draft_llm, unused = load_draft(
                request.draft_model_path, llm, request.draft_gpu_layers, threads
            )
            notice = notice or unused
        raw_api = self._raw
        raw_api.llama_set_abort_callback(llm._ctx.ctx, self._abort_cb, None)
        self.chat_llm = llm
        self.chat_path = request.model_path
        return p.Loaded(
            model_path=request.model_path,
            n_ctx=llm.n_ctx(),
            n_ctx_train=llm._model.n_ctx_train(),
            n_gpu_layers=request.n_gpu_layers,
            chat_format=chat_format or "gguf-template",
            load_seconds=time.perf_counter() - started,
            metadata=metadata,
            notice=notice.english() if notice else "",
            notice_sentence=notice,
        )

    @staticmethod
    def _apply_chat_format(llm: Any, chat_format: str) -> None:
        from llama_cpp import llama_chat_format

        llm.chat_format = chat_format
        llm.chat_handler = llama_chat_format.get_chat_completion_handler(chat_format)

    # ---- chat and completion -----------------------------------------------------------
    def chat(self, request: p.ChatRequest) -> p.ChatDone | p.EngineError:
        llm = self.chat_llm
        if llm is None:
            return p.host_error("host", "No model is loaded.", p.ERROR_NOT_LOADED)
        s = request.sampling
        extras = request.extras
        log.info("answering: %d messages, max_tokens=%d", len(request.messages), s.max_tokens)
        try:
            options = chat_options(extras)
        except ValueError as exc:
            return p.error_of(p.ERROR_BAD_REQUEST, exc)
        forced = options.pop("_forced", False)
        self._switch_conversation(request.cache_key)

        def start() -> DecodeLoop | LibraryStream:
            if not library_loop_wanted():
                prompt = chat_prompt(
                    llm, request.messages, options.get("tools"), options.get("tool_choice"), extras.stop
                )
                if prompt is not None:
                    return DecodeLoop(llm, prompt, s, options.get("grammar"), self._drafter())
            return LibraryStream(llm.create_chat_completion(
                messages=request.messages, stream=True, stop=list(extras.stop), **sampling_args(s), **options
            ), chat_delta)

        tools = wants_tools(extras.tools, extras.tool_choice)
        return self._generate(start, tool_mode="forced" if forced else "parse" if tools else "")

    def complete(self, request: p.CompletionRequest) -> p.ChatDone | p.EngineError:
        llm = self.chat_llm
        if llm is None:
            return p.host_error("host", "No model is loaded.", p.ERROR_NOT_LOADED)
        s = request.sampling
        log.info("completing: max_tokens=%d", s.max_tokens)
        try:
            grammar = grammar_for(request.extras.response_format)
        except ValueError as exc:
            return p.error_of(p.ERROR_BAD_REQUEST, exc)
        self._switch_conversation(None)

        def start() -> DecodeLoop | LibraryStream:
            if not library_loop_wanted():
                prompt = completion_prompt(llm, request.prompt, request.extras.stop)
                if prompt is not None:
                    return DecodeLoop(llm, prompt, s, grammar, self._drafter())
            return LibraryStream(llm.create_completion(
                prompt=request.prompt, stream=True, stop=list(request.extras.stop), grammar=grammar,
                **sampling_args(s),
            ), completion_delta)

        return self._generate(start, tool_mode="")

    def _drafter(self) -> DraftSource | None:
        """Where this answer's draft tokens come from: the draft model when one is loaded,
        prompt lookup when it is switched on, else nowhere (speculation.py)."""
        if self.draft_llm is not None:
            return DraftModel(self.draft_llm, self.chat_llm._n_vocab)
        return PromptLookup() if prompt_lookup_wanted() else None

    def _generate(
        self, start: Callable[[], DecodeLoop | LibraryStream], tool_mode: str
    ) -> p.ChatDone | p.EngineError:
        """Stream one answer as TokenBatches (at most ~30 a second) and sum it up.

        tool_mode "parse": hold back `<tool_call>` markup and parse it at the end; "forced": the
        whole answer is one call (a grammar made it so): send no text, parse it at the end."""
        llm = self.chat_llm
        self._raw.llama_perf_context_reset(llm._ctx.ctx)
        started = time.perf_counter()
        first_token_at: float | None = None
        pending: list[str] = []
        pieces: list[str] = []
        n_chunks = 0
        n_pending = 0
        prompt_tokens = 0
        finish_reason = "stop"
        last_flush = started
        filter_ = ToolCallFilter() if tool_mode == "parse" else None
        stream: DecodeLoop | LibraryStream | None = None
        iterator: Any = None
        try:
            stream = start()
            # DecodeLoop yields once per token, "" for a token with no text yet (half of a
            # multi-byte character, a stop string's possible start, an empty piece): it still
            # counts, else the client's tokens/s reads low on such text (CJK, emoji).
            every_token = isinstance(stream, DecodeLoop)
            iterator = iter(stream)
            for delta in iterator:
                if delta or every_token:
                    n_pending += 1
                if delta:
                    if first_token_at is None:
                        first_token_at = time.perf_counter()
                        prompt_tokens = llm.n_tokens
                    n_chunks += 1
                    pieces.append(delta)
                    if filter_ is not None:
                        delta = filter_.feed(delta)
                    if delta and tool_mode != "forced":
                        pending.append(delta)
                now = time.perf_counter()
                if pending and (n_chunks == 1 or now - last_flush >= TOKEN_FLUSH_INTERVAL_S):
                    self.send(p.TokenBatch("".join(pending), n_pending))
                    pending.clear()
                    n_pending = 0
                    last_flush = now
                if self.cancel.is_set():
                    finish_reason = "cancelled"
                    iterator.close()
                    break
            else:
                finish_reason = stream.finish_reason
        except template_guard.TemplateFailed as exc:  # the model's Jinja raised, looped or ran away
            return p.EngineError.of(p.ERROR_TEMPLATE, exc.sentence)
        except ValueError as exc:  # llama-cpp-python's way to say the prompt is too long, or bad input
            return value_error(exc)
        except RuntimeError as exc:
            if not self.cancel.is_set():
                log.error("decode failed: %s", exc)
                return p.host_error(
                    "host", "The engine failed while answering: {error}", p.ERROR_INTERNAL, error=str(exc)
                )
            finish_reason = "cancelled"
        text = "".join(pieces)
        tool_calls: list[dict[str, Any]] = []
        if filter_ is not None:
            held, text, tool_calls = filter_.finish()
            if held:
                pending.append(held)
        elif tool_mode == "forced":
            tool_calls = parse_forced_call(text)
            text = "" if tool_calls else text
            if text:
                pending.append(text)
        if tool_calls and finish_reason != "cancelled":
            finish_reason = "tool_calls"
        if pending:
            self.send(p.TokenBatch("".join(pending), max(1, n_pending)))
        ended = time.perf_counter()
        perf = self._raw.llama_perf_context(llm._ctx.ctx)
        drafter = None
        if isinstance(stream, DecodeLoop):  # it counts exactly
            prompt_tokens, generated = stream.prompt_tokens, stream.generated_tokens
            drafter = self.last_drafter = stream.drafter
            if drafter is not None and drafter.batches:
                log.info(
                    "%s: %d of %d draft tokens accepted in %d batches", type(drafter).__name__,
                    drafter.accepted, drafter.proposed, drafter.batches,
                )
        else:
            generated = max(n_chunks, llm.n_tokens - prompt_tokens) if prompt_tokens else n_chunks
            if not prompt_tokens and not n_chunks:
                prompt_tokens = llm.n_tokens  # nothing was generated: the context holds the prompt only
        return p.ChatDone(
            text=text,
            stats=p.ChatStats(
                prompt_tokens=prompt_tokens,
                generated_tokens=generated,
                time_to_first_token_s=(first_token_at or ended) - started,
                total_s=ended - started,
                engine_eval_tokens_per_s=_rate(perf.n_eval, perf.t_eval_ms),
                engine_prompt_tokens_per_s=_rate(perf.n_p_eval, perf.t_p_eval_ms),
                prompt_tokens_evaluated=int(perf.n_p_eval),
                finish_reason=finish_reason,
                tool_calls=tuple(tool_calls),
                draft_tokens_proposed=drafter.proposed if drafter is not None else 0,
                draft_tokens_accepted=drafter.accepted if drafter is not None else 0,
            ),
        )

    def _switch_conversation(self, key: str | None) -> None:
        """Park the KV cache of the conversation that used the model last; bring back this one's."""
        if key == self.active_key:
            return
        llm = self.chat_llm
        if self.active_key is not None and llm.n_tokens > 0:
            self.states.save(self.active_key, llm, self._raw)
        if key is not None and self.states.restore(key, llm, self._raw):
            log.info("restored a saved conversation cache (%d tokens)", llm.n_tokens)
        self.active_key = key

    # ---- embeddings ---------------------------------------------------------------------
    def embed(self, request: p.EmbedRequest) -> p.Embeddings | p.EngineError:
        """The same fitting and batched decode as the CLI's LocalEmbedder (one code path,
        local_embedder.EmbeddingRunner), so the vectors and model id match; float32 bytes back."""
        from app.core.documents.local_embedder import EmbeddingRunner

        runner = self.embedders.pop(request.model_path, None)
        if runner is None:
            while len(self.embedders) >= EMBED_MODELS_KEPT:  # the least recently used goes
                self.embedders.pop(next(iter(self.embedders))).close()
            refused = refuse_unreadable(request.model_path)
            if refused is not None:
                return refused
            try:
                runner = EmbeddingRunner(request.model_path, n_threads=physical_cores(), verbose=True)
            except Exception as exc:
                sys.stderr.flush()
                kind, sentence = explain_load_failure(tail(self.log_path) + str(exc), request.model_path)
                return p.EngineError.of(kind, sentence)
        self.embedders[request.model_path] = runner  # now the most recently used
        try:
            vectors = runner.embed(request.texts, normalize=request.normalize, kind=request.kind)
        except Exception as exc:
            log.error("embedding failed: %s", type(exc).__name__)
            return p.host_error("host", "Embedding failed: {error}", p.ERROR_INTERNAL, error=str(exc))
        return p.Embeddings.of(vectors)


def _rate(count: int, millis: float) -> float:
    return float(count) / (millis / 1000.0) if millis > 0 else 0.0


def host_main(conn: Connection, cancel: p.CancelFlag, log_path: str, parent_pid: int) -> None:
    """Entry point of the child process (multiprocessing "spawn")."""
    redirect_native_output(log_path)
    # On an abort ggml attaches gdb to print a backtrace: seconds on a busy machine before the
    # app hears of the crash, and pages of log that bury the one line saying why.
    os.environ.setdefault("GGML_NO_BACKTRACE", "1")
    watch_parent(parent_pid)
    yield_cpu_to_the_window()
    log.info("engine host %d started", os.getpid())
    try:
        require_cpu_backend()  # GGML_BACKEND_DL builds (the installers' portable one) load CPU variants
    except NoCpuBackend as exc:
        log.error("no CPU backend: %s", exc)
        conn.send(p.host_error(
            "host",
            "The model engine could not start: its processor library is missing or does not run "
            "on this computer ({error}). Reinstalling Enclave usually fixes this.",
            p.ERROR_INTERNAL, error=str(exc),
        ))
        return
    try:
        import llama_cpp

        version = getattr(llama_cpp, "__version__", "?")
        engine = HostEngine(conn, cancel, log_path)
    except Exception as exc:  # the engine library itself is missing or broken
        log.exception("engine failed to start")
        conn.send(p.host_error(
            "host", "The model engine could not start: {error}", p.ERROR_INTERNAL, error=str(exc)
        ))
        return
    conn.send(p.HostReady(pid=os.getpid(), llama_cpp_version=version))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        if isinstance(request, p.ShutdownRequest):
            break
        try:
            engine.handle(request)
        except (BrokenPipeError, EOFError):
            break
        except Exception:
            log.exception("request failed")
            try:
                conn.send(p.host_error(
                    "host",
                    "The engine failed on this request; the engine log has the details.",
                    p.ERROR_INTERNAL,
                ))
            except OSError:
                break
    engine.unload()
    log.info("engine host %d stopped", os.getpid())
