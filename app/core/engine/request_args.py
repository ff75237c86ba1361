"""What a request asks, as llama-cpp-python's arguments: sampling, the grammar for a JSON
schema or a forced tool call, the tools given to the template; and what it answers, back as
text (its chunks) or as a plain sentence (its ValueError for a prompt that does not fit)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from app.core.engine import protocol as p
from app.core.engine.tool_calls import forced_call_schema, wants_tools

log = logging.getLogger("enclave.engine.host")


class LibraryStream:
    """llama-cpp-python's stream of chunks as text deltas, with the finish reason it reported
    (ENCLAVE_DECODE_LOOP=library, and chat handlers that are more than a prompt formatter)."""

    def __init__(self, chunks: Any, delta_of: Callable[[dict[str, Any]], str]) -> None:
        self._chunks = chunks
        self._delta_of = delta_of
        self.finish_reason = "stop"

    def __iter__(self) -> Iterator[str]:
        try:
            for chunk in self._chunks:
                choice = chunk["choices"][0]
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]
                yield self._delta_of(choice)
        finally:
            self._chunks.close()


def chat_delta(choice: dict[str, Any]) -> str:
    return choice.get("delta", {}).get("content") or ""


def completion_delta(choice: dict[str, Any]) -> str:
    return choice.get("text") or ""


def grammar_for(response_format: dict[str, Any] | None) -> Any:
    """A llama.cpp grammar for OpenAI's response_format (None: free text).

    {"type": "json_object"} -> any JSON object; {"type": "json_schema", "json_schema": {"schema":
    ...}} (or llama-cpp-python's own {"type": "json_object", "schema": ...}) -> that schema."""
    if not response_format or response_format.get("type") in (None, "text"):
        return None
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    kind = response_format.get("type")
    schema = response_format.get("schema")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise p.SentenceError(
                p.host_sentence("request_args", "response_format json_schema needs a 'schema' object.")
            )
    elif kind != "json_object":
        raise p.SentenceError(p.host_sentence(
            "request_args",
            "response_format type '{kind}' is not supported (use json_object or json_schema).",
            kind=str(kind),
        ))
    try:
        if schema is not None:
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    except Exception as exc:  # the converter raises plain Exceptions for what it cannot express
        raise p.SentenceError(
            p.host_sentence("request_args", "The JSON schema could not be used: {error}", error=str(exc))
        ) from exc


def chat_options(extras: p.ChatExtras) -> dict[str, Any]:
    """create_chat_completion arguments for the extras: the grammar (response_format or a forced
    tool call) and the tools the model's template is given."""
    options: dict[str, Any] = {}
    forced = forced_call_schema(extras.tools, extras.tool_choice)
    if forced is not None:
        options["grammar"] = grammar_for({"type": "json_schema", "json_schema": {"schema": forced}})
        options["_forced"] = True
    else:
        grammar = grammar_for(extras.response_format)
        if grammar is not None:
            options["grammar"] = grammar
    if wants_tools(extras.tools, extras.tool_choice):
        options["tools"] = extras.tools
        # A named choice is enforced by our grammar; llama-cpp-python's own forcing would also
        # change the reply's shape. Templates are told only "auto"/"required".
        choice = extras.tool_choice
        options["tool_choice"] = "required" if isinstance(choice, dict) else choice
    return options


_TOO_LONG = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def value_error(exc: ValueError) -> p.EngineError:
    match = _TOO_LONG.search(str(exc))
    if match:
        tokens, window = int(match.group(1)), int(match.group(2))
        log.info("prompt of %d tokens does not fit the context of %d", tokens, window)
        return p.host_error(
            "request_args",
            "The text is too long for this model: it is {tokens} tokens and the model was "
            "loaded with room for {window}. Shorten it, or load the model with a larger context.",
            p.ERROR_CONTEXT_TOO_LONG,
            {"prompt_tokens": tokens, "n_ctx": window},
            tokens=tokens,
            window=window,
        )
    log.info("request refused: %s", type(exc).__name__)
    sentence = getattr(exc, "sentence", None)
    if isinstance(sentence, p.Sentence):  # ours (a SentenceError): a whole sentence, with its period
        return p.host_error(
            "request_args",
            "The engine could not use this request: {reason}",
            p.ERROR_BAD_REQUEST,
            reason=sentence,
        )
    reason = str(exc).strip().rstrip(".")  # the library's words, as it wrote them
    return p.host_error(
        "request_args", "The engine could not use this request: {reason}.", p.ERROR_BAD_REQUEST, reason=reason
    )


def sampling_args(s: p.SamplingParams) -> dict[str, Any]:
    """The sampling arguments llama-cpp-python's chat and text completion both take."""
    return {
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,
        "min_p": s.min_p,
        "repeat_penalty": s.repeat_penalty,
        "max_tokens": s.max_tokens,
        "seed": s.seed,
    }
