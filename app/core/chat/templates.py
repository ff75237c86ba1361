"""Which chat format to use when a GGUF carries no chat template of its own.

llama-cpp-python formats the conversation with the GGUF's Jinja template (sandboxed) when the
file has one. Without one it falls back to "llama-2", which for most models produces an answer
of zero tokens; so we pick the architecture's own turn markers instead.
"""

from __future__ import annotations

# GGUF general.architecture -> llama-cpp-python chat_format name.
_FALLBACK_BY_ARCHITECTURE: dict[str, str] = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "gemma3n": "gemma",
    "llama": "llama-3",
    "mistral": "mistral-instruct",
    "mistral3": "mistral-instruct",
    "qwen": "qwen",
    "qwen2": "chatml",
    "qwen2moe": "chatml",
    "qwen3": "chatml",
    "qwen3moe": "chatml",
    "phi2": "chatml",
    "phi3": "chatml",
    "stablelm": "chatml",
    "internlm2": "chatml",
    "olmo": "chatml",
    "olmo2": "chatml",
    "falcon": "chatml",
    "granite": "chatml",
    "smollm3": "chatml",
    "chatglm": "chatglm3",
    "baichuan": "baichuan-2",
    "openchat": "openchat",
}

DEFAULT_FALLBACK = "chatml"


def fallback_chat_format(architecture: str) -> str:
    return _FALLBACK_BY_ARCHITECTURE.get(architecture.lower(), DEFAULT_FALLBACK)
