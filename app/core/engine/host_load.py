"""How the engine host loads a model: the Llama() arguments for the planner's KV cache, the
progress hook llama.cpp calls while it reads the file, the header check before llama.cpp sees a
file, and plain sentences for what llama.cpp's log says when a load fails. (host.py serves the
requests; this is what its load() leans on.)"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import time
from collections.abc import Iterator
from typing import Any

from app.core.engine import protocol as p
from app.core.i18n import translate_noop


def kv_cache_args(kv_type: str) -> dict[str, Any]:
    """Llama() arguments for the planner's KV cache type: a quantized cache needs flash
    attention (llama.cpp refuses a quantized V cache without it)."""
    if kv_type == "f16":
        return {}
    from app.core.planner import GGML_TYPE_IDS

    type_id = GGML_TYPE_IDS[kv_type]
    return {"type_k": type_id, "type_v": type_id, "flash_attn": True}


def gpu_args(request: p.LoadRequest) -> dict[str, Any]:
    """Llama() arguments for where the planner put the GPU part: one GPU alone (split mode
    none, so llama.cpp does not spread a model that fits on one card), or several by share.

    Nothing when no layer goes to a GPU or llama.cpp has no GPU device (a CPU build), since
    llama.cpp refuses a main_gpu it does not have."""
    import llama_cpp

    if request.n_gpu_layers <= 0 or not llama_cpp.llama_supports_gpu_offload():
        return {}
    if len([share for share in request.tensor_split if share > 0]) >= 2:
        return {
            "split_mode": llama_cpp.LLAMA_SPLIT_MODE_LAYER,
            "main_gpu": request.main_gpu,
            "tensor_split": list(request.tensor_split),
        }
    return {"split_mode": llama_cpp.LLAMA_SPLIT_MODE_NONE, "main_gpu": request.main_gpu}


PROGRESS_INTERVAL_S = 0.05

# Test-only fault injection (set by tests, never by the app): simulate the native abort a
# CUDA out-of-memory error causes when a model is loaded with GPU layers.
FAULT_ENV = "ENCLAVE_ENGINE_FAULT"


def explain_load_failure(log_text: str, model_path: str) -> tuple[str, p.Sentence]:
    """Turn llama.cpp's log after a failed load into (error kind, a sentence for people)."""
    lowered = log_text.lower()
    name = os.path.basename(model_path)
    if "unknown model architecture" in lowered:
        arch = ""
        for line in log_text.splitlines():
            if "unknown model architecture" in line.lower():
                arch = line.split("unknown model architecture", 1)[1].strip(" :'\"\n")
        if arch:
            return p.ERROR_LOAD_FAILED, p.host_sentence(
                "host_load",
                "The model file {name} uses a model type ('{arch}') that this version of the engine "
                "cannot run yet.",
                name=name,
                arch=arch,
            )
        return p.ERROR_LOAD_FAILED, p.host_sentence(
            "host_load",
            "The model file {name} uses a model type that this version of the engine cannot run yet.",
            name=name,
        )
    if any(s in lowered for s in ("out of memory", "failed to allocate", "unable to allocate")):
        return p.ERROR_OUT_OF_MEMORY, p.host_sentence(
            "host_load",
            "There was not enough memory to load {name}. Try a smaller model or context size.",
            name=name,
        )
    if "failed to read magic" in lowered or "invalid magic" in lowered:
        return p.ERROR_LOAD_FAILED, p.host_sentence(
            "host_load", "The model file {name} is not a GGUF model file.", name=name
        )
    found = _LOAD_PROBLEMS.search(log_text)
    if found:
        what = next(group for group in found.groups() if group is not None)
        text = _LOAD_SENTENCES[found.lastgroup or ""]
        return p.ERROR_LOAD_FAILED, p.host_sentence("host_load", text, name=name, what=what)
    if "tensor" in lowered and ("data is not within" in lowered or "out of bounds" in lowered):
        return p.ERROR_LOAD_FAILED, p.host_sentence(
            "host_load", "The model file {name} is incomplete or damaged (truncated download?).", name=name
        )
    return p.ERROR_LOAD_FAILED, p.host_sentence(
        "host_load",
        "The engine could not load {name}: the file may be damaged, or made for a newer engine. "
        "The engine log has the details.",
        name=name,
    )


# llama.cpp's own words for a file it refuses (llama-model-loader.cpp, gguf.cpp), and ours.
_LOAD_PROBLEMS = re.compile(
    r"tensor '(?P<shape>[^']+)' has wrong shape"
    r"|tensor '(?P<missing>[^']+)' not found|missing tensor '(?P<missing2>[^']+)'"
    r"|key not found in model: (?P<key>\S+)"
    r"|tensor '(?P<offset>[^']+)' has offset|failed to read tensor data(?P<data>)"
    r"|tensor '(?P<type>[^']+)' has invalid ggml type|invalid tensor type(?P<type2>)"
    r"|duplicate(?:d)? tensor name '?(?P<dup>[^'\s]*)"
    r"|key '?(?P<wrong>[^' ]+)'? has wrong type|wrong array length(?P<wrong2>)"
    r"|tensor '(?P<bounds>[^']+)' data is not within the file bounds"
)
# {name}: the file's name; {what}: the tensor or setting llama.cpp named (may be unused).
_MISSING = translate_noop(
    "host_load",
    "The model file {name} is damaged, or made by a converter this engine does not understand: "
    "the tensor '{what}' that its model type needs is missing.",
)
_NOT_WHERE = translate_noop(
    "host_load",
    "The model file {name} is damaged, or made by a converter this engine does not understand: "
    "its tensor data is not where its header says.",
)
_LOAD_SENTENCES = {
    "shape": translate_noop(
        "host_load",
        "The model file {name} is damaged, or made by a converter this engine does not understand: "
        "its tensor '{what}' does not have the shape its description promises.",
    ),
    "missing": _MISSING,
    "missing2": _MISSING,
    "key": translate_noop(
        "host_load",
        "The model file {name} is damaged, or made by a converter this engine does not understand: "
        "it lacks the setting '{what}' its model type needs.",
    ),
    "offset": _NOT_WHERE,
    "data": _NOT_WHERE,
    "type": translate_noop(
        "host_load",
        "The model file {name} uses a number format (for tensor '{what}') this engine does not know.",
    ),
    "type2": translate_noop(
        "host_load", "The model file {name} uses a number format this engine does not know."
    ),
    "dup": translate_noop(
        "host_load",
        "The model file {name} is damaged, or made by a converter this engine does not understand: "
        "it lists the same tensor twice.",
    ),
    "wrong": translate_noop(
        "host_load",
        "The model file {name} is damaged, or made by a converter this engine does not understand: "
        "its setting '{what}' has the wrong kind of value.",
    ),
    "wrong2": translate_noop(
        "host_load",
        "The model file {name} is damaged, or made by a converter this engine does not understand: "
        "one of its settings has the wrong number of values.",
    ),
    "bounds": translate_noop(
        "host_load",
        "The model file {name} is incomplete or damaged: its tensor '{what}' runs past the end of the file.",
    ),
}


class ProgressHook:
    """Injects llama.cpp's load progress callback into the params Llama() builds.

    llama-cpp-python does not expose progress_callback, so for the duration of one load we wrap
    llama_model_default_params (the host is single-threaded, so this is safe). Returning False
    from the callback aborts the load: that is how Cancel works while loading.
    """

    def __init__(self, send: Any, cancel: p.CancelFlag) -> None:
        self._send = send
        self._cancel = cancel
        self._last = 0.0
        import llama_cpp.llama_cpp as raw

        self._raw = raw

        def on_progress(fraction: float, _data: ctypes.c_void_p) -> bool:
            now = time.monotonic()
            if now - self._last >= PROGRESS_INTERVAL_S or fraction >= 1.0:
                self._last = now
                self._send(p.LoadProgress(float(fraction)))
            return not self._cancel.is_set()

        self._callback = raw.llama_progress_callback(on_progress)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        original = self._raw.llama_model_default_params
        callback = self._callback

        def params_with_progress() -> Any:
            params = original()
            params.progress_callback = callback
            return params

        self._raw.llama_model_default_params = params_with_progress
        try:
            yield
        finally:
            self._raw.llama_model_default_params = original


def refuse_unreadable(model_path: str) -> p.EngineError | None:
    """Read the header with gguf_facts before llama.cpp sees the file: what it refuses (a
    truncated or damaged file, impossible sizes) could make native code abort this process. One
    check for every caller (window, CLI, API, documents), in plain words. gguf_facts writes
    them in English here (no translator in the host): `header_refused` tells the client to read
    the header again for the window's language (client.py)."""
    from app.core.gguf_facts import GGUFError, read_model_facts

    try:
        read_model_facts(model_path)
    except GGUFError as exc:
        return p.EngineError(p.ERROR_LOAD_FAILED, str(exc), {p.HEADER_REFUSED: True})
    return None
