"""Messages between the app and the engine host process, as plain picklable dataclasses.

One request at a time travels app -> host over a multiprocessing Pipe; the host answers with
zero or more progress/token messages and exactly one final message (Loaded, ChatDone,
Embeddings, Unloaded or EngineError). Cancel does not travel over the pipe: it is a shared
CancelFlag, which llama.cpp's abort callback reads inside a decode, so it takes effect within
a fraction of a token even while the host is busy.

The host has no translator: a sentence it writes for people travels as a `Sentence` (the
English template, its translation context and its values) beside the English text, and the
app shows it in the window's language with `shown(...)`. `host_error` and `host_sentence`
take the context and the literal like `translate()`, so installers/i18n.py finds the texts.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# The texts are marked where the host writes them (host_error/host_sentence); this name keeps
# installers/i18n.py, which reads literal translate() calls, from looking for one here.
from app.core.i18n import number
from app.core.i18n import translate as translate_marked


class Sentence(NamedTuple):
    """A sentence for people, as the host wrote it: `text` is the English template (named
    placeholders), translated in `context`; a value is plain text (a file name, a library's
    own words), a count (written as the language writes numbers) or a sentence of its own."""

    context: str
    text: str
    values: dict[str, str | int | Sentence]

    def english(self) -> str:
        """The sentence as the host (which has no translator) writes it."""
        return self.text.format(**{k: _english(v) for k, v in self.values.items()})


def _english(value: str | int | Sentence) -> str:
    if isinstance(value, Sentence):
        return value.english()
    return number(value) if isinstance(value, int) else value


def _shown(value: str | int | Sentence) -> str:
    if isinstance(value, Sentence):
        return shown(value, "")
    return number(value) if isinstance(value, int) else value


def shown(sentence: Sentence | None, as_sent: str) -> str:
    """A host's sentence in the window's language; `as_sent` (its English, or a text the host
    had no sentence for, such as a library's own words) when there is none."""
    if sentence is None:
        return as_sent
    template = translate_marked(sentence.context, sentence.text)
    return template.format(**{k: _shown(v) for k, v in sentence.values.items()})


def host_sentence(context: str, text: str, **values: str | int | Sentence) -> Sentence:
    """A sentence the host writes for people (`text` a literal, as for translate())."""
    return Sentence(context, text, dict(values))


class SentenceError(ValueError):
    """A request the host cannot serve, said in a Sentence (str() is its English)."""

    def __init__(self, sentence: Sentence) -> None:
        super().__init__(sentence.english())
        self.sentence = sentence


class CancelFlag:
    """One byte of shared memory the app sets and the host reads, with no lock: llama.cpp asks
    "abort?" for every graph node (hundreds of times a token), so the check must cost nothing.
    Made by the client with its multiprocessing context and passed to the host at start."""

    def __init__(self, context: Any) -> None:
        self._value = context.RawValue(ctypes.c_bool, False)

    def set(self) -> None:
        self._value.value = True

    def clear(self) -> None:
        self._value.value = False

    def is_set(self) -> bool:
        return bool(self._value.value)


# ---- requests (app -> host) -------------------------------------------------------------
@dataclass(frozen=True)
class LoadRequest:
    model_path: str
    n_gpu_layers: int = 0
    n_ctx: int = 4096
    n_threads: int = 0  # 0: the host picks the number of physical cores
    n_batch: int = 512
    n_ubatch: int = 512
    swa_full: bool = False  # False: llama.cpp's small sliding-window cache (what the planner sized)
    kv_type: str = "f16"  # "q8_0": K and V stored in 8 bits, with flash attention (planner.py)
    chat_format: str | None = None  # None: the GGUF's own template, or a fallback by architecture
    # Where the GPU part goes (planner.OffloadPlan): one GPU (main_gpu, tensor_split empty) or
    # several sharing the layers in these proportions, by llama.cpp's device index.
    main_gpu: int = 0
    tensor_split: tuple[float, ...] = ()
    # A small model of the same family that drafts tokens for this one (draft_model.py); "": none.
    draft_model_path: str = ""
    draft_gpu_layers: int = 0  # the planner's place for it (draft_plan.py): all its layers, or none


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    # 1.0 = off, llama.cpp's own default: a penalty scans the whole vocabulary every token
    # (262k entries for Gemma 3: ~6% of decode time on a small model) and rarely helps.
    repeat_penalty: float = 1.0
    max_tokens: int = 1024
    seed: int | None = None


@dataclass(frozen=True)
class ChatExtras:
    """What programs (the local API, a script) may ask beyond plain chat: all optional."""

    # OpenAI's response_format: {"type": "json_object"} or
    # {"type": "json_schema", "json_schema": {"schema": {...}}}; enforced by a llama.cpp grammar.
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None  # OpenAI tool definitions, given to the template
    tool_choice: Any = None
    stop: list[str] = field(default_factory=list)  # stop strings


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    # Which conversation this is: the host keeps each conversation's KV cache (in RAM, while
    # memory allows), so switching back to one does not evaluate its whole history again.
    cache_key: str | None = None
    extras: ChatExtras = field(default_factory=ChatExtras)


@dataclass(frozen=True)
class CompletionRequest:
    """Plain text completion of a prompt, no chat template (OpenAI's /v1/completions)."""

    prompt: str
    sampling: SamplingParams = field(default_factory=SamplingParams)
    extras: ChatExtras = field(default_factory=ChatExtras)


@dataclass(frozen=True)
class EmbedRequest:
    model_path: str  # the embedding model; loaded once and kept beside the chat model
    texts: list[str]
    normalize: bool = True
    kind: str = "document"  # or "query": which of the model's prompts goes in front


@dataclass(frozen=True)
class UnloadRequest:
    pass


@dataclass(frozen=True)
class ShutdownRequest:
    pass


# ---- replies (host -> app) --------------------------------------------------------------
@dataclass(frozen=True)
class HostReady:
    pid: int
    llama_cpp_version: str


@dataclass(frozen=True)
class LoadProgress:
    fraction: float  # 0.0 .. 1.0


@dataclass(frozen=True)
class Loaded:
    model_path: str
    n_ctx: int
    n_ctx_train: int
    n_gpu_layers: int
    chat_format: str
    load_seconds: float
    metadata: dict[str, str] = field(default_factory=dict)
    notice: str = ""  # something the user should know about how it loaded (plain words)
    notice_sentence: Sentence | None = None  # the notice, for the window's language (shown())


@dataclass(frozen=True)
class TokenBatch:
    text: str
    n_tokens: int


@dataclass(frozen=True)
class ChatStats:
    prompt_tokens: int
    generated_tokens: int
    time_to_first_token_s: float  # host-side: request received -> first token sampled
    total_s: float
    engine_eval_tokens_per_s: float  # llama.cpp's own perf counters (decode only)
    engine_prompt_tokens_per_s: float
    prompt_tokens_evaluated: int  # fewer than prompt_tokens when the KV cache was reused
    finish_reason: str  # "stop" | "length" | "cancelled" | "tool_calls"
    # Tool calls the model made (OpenAI's shape: {"id", "type": "function", "function": {...}}).
    tool_calls: tuple[dict[str, Any], ...] = ()
    # Speculative decoding (speculation.py): draft tokens proposed, and accepted by the model.
    draft_tokens_proposed: int = 0
    draft_tokens_accepted: int = 0


@dataclass(frozen=True)
class ChatDone:
    text: str
    stats: ChatStats


@dataclass(frozen=True)
class Embeddings:
    """Vectors as one float32 buffer (row-major, native byte order; host and client are the
    same machine): 4 bytes a number over the pipe, pickled in one piece, instead of a Python
    float object per number (~8x the pickling work). `array()` is the matrix, `vectors` the
    lists the Engine interface and the API hand out."""

    data: bytes
    dim: int

    @classmethod
    def of(cls, matrix: Any) -> Embeddings:
        import numpy as np

        array = np.ascontiguousarray(matrix, dtype=np.float32)
        dim = int(array.shape[1]) if array.ndim == 2 else 0
        return cls(array.tobytes(), dim)

    def array(self) -> Any:
        """(n, dim) float32 numpy matrix (a read-only view of `data`)."""
        import numpy as np

        flat = np.frombuffer(self.data, dtype=np.float32)
        return flat.reshape(-1, self.dim) if self.dim else flat.reshape(0, 0)

    @property
    def vectors(self) -> list[list[float]]:
        return list(self.array().tolist())


@dataclass(frozen=True)
class Unloaded:
    pass


# Kinds of EngineError, so callers can react without parsing messages.
ERROR_NOT_LOADED = "not_loaded"
ERROR_LOAD_FAILED = "load_failed"
ERROR_OUT_OF_MEMORY = "out_of_memory"
ERROR_BAD_REQUEST = "bad_request"
ERROR_INTERNAL = "internal"
ERROR_CONTEXT_TOO_LONG = "context_too_long"  # the prompt does not fit the model's context
ERROR_TEMPLATE = "template_failed"  # the model's chat template raised, looped or ran away
ERROR_NOT_ALLOWED = "not_allowed"  # the organisation's policy refuses this model or server
# A remote server (remote.py):
ERROR_UNREACHABLE = "unreachable"  # no connection (down, wrong address, no network)
ERROR_UNAUTHORIZED = "unauthorized"  # 401/403: the key is missing or wrong
ERROR_STALLED = "stalled"  # connected, but nothing arrived for too long
ERROR_CUT_OFF = "cut_off"  # the stream ended in the middle of an answer
ERROR_SERVER = "server_error"  # the server answered with another error
# In an EngineError's details: the host's header check (gguf_facts) refused the file; its words
# are English, and the client reads the header again to say them in the window's language.
HEADER_REFUSED = "header_refused"


@dataclass(frozen=True)
class EngineError:
    kind: str
    message: str  # English (the host has no translator); shown(sentence, message) for people
    details: dict[str, Any] = field(default_factory=dict)
    sentence: Sentence | None = None

    @classmethod
    def of(cls, kind: str, sentence: Sentence, details: dict[str, Any] | None = None) -> EngineError:
        return cls(kind, sentence.english(), details or {}, sentence)


def host_error(
    context: str, text: str, kind: str, details: dict[str, Any] | None = None, **values: str | int | Sentence
) -> EngineError:
    """An EngineError the host sends: `text` (a literal, as for translate()) with its values,
    in English in `message` and as a Sentence the app translates."""
    return EngineError.of(kind, Sentence(context, text, dict(values)), details)


def error_of(kind: str, exc: Exception) -> EngineError:
    """An EngineError for an exception: its Sentence when it has one, else its own words."""
    sentence = getattr(exc, "sentence", None)
    if isinstance(sentence, Sentence):
        return EngineError.of(kind, sentence)
    return EngineError(kind, str(exc))


Request = (
    LoadRequest | ChatRequest | CompletionRequest | EmbedRequest | UnloadRequest | ShutdownRequest
)
Reply = HostReady | LoadProgress | Loaded | TokenBatch | ChatDone | Embeddings | Unloaded | EngineError
