"""Tool calls a model writes into its answer, turned into OpenAI's `tool_calls` shape.

Models trained for tools (Hermes, Qwen 2.5/3, SmolLM3...) write a call as
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` after (or instead of) their text.
A program using the API must not see that markup as answer text, so while an answer streams
`ToolCallFilter` lets text through only up to where a call begins, holding back a tail that
might be the start of `<tool_call>`; at the end it parses the calls.

When the caller forces a tool (`tool_choice` "required" or a named function) the model cannot
be trusted to comply, so the answer is constrained instead by a grammar built from
`forced_call_schema`: the whole answer is then one JSON call, parsed by `parse_forced_call`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from app.core.engine import protocol as p

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"


def _call(name: str, arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _from_json(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    return _call(value["name"], arguments)


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Split an answer into (text without the call markup, the calls). A block that is not valid
    JSON stays in the text, so nothing the model wrote is lost."""
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    rest = text
    while True:
        start = rest.find(OPEN_TAG)
        if start < 0:
            kept.append(rest)
            break
        end = rest.find(CLOSE_TAG, start)
        body_end = end if end >= 0 else len(rest)
        call = _from_json(rest[start + len(OPEN_TAG) : body_end].strip())
        after = body_end + len(CLOSE_TAG) if end >= 0 else len(rest)
        if call is None:
            kept.append(rest[:after])
        else:
            kept.append(rest[:start])
            calls.append(call)
        rest = rest[after:]
    return "".join(kept), calls  # exactly what streamed: the text around the calls, as written


class ToolCallFilter:
    """Streams the answer's text, but nothing from the first `<tool_call>` on."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._sent = 0  # characters of the joined text already let through
        self._in_call = False

    def feed(self, delta: str) -> str:
        """Add a piece of the answer; return what may be shown now (maybe "")."""
        self._text.append(delta)
        if self._in_call:
            return ""
        text = "".join(self._text)
        start = text.find(OPEN_TAG, self._sent)
        if start >= 0:
            self._in_call = True
            safe_end = start
        else:
            safe_end = len(text) - _partial_tag_suffix(text)
        out = text[self._sent : safe_end]
        self._sent = max(self._sent, safe_end)
        return out

    def finish(self) -> tuple[str, str, list[dict[str, Any]]]:
        """(text still held back that belongs to the answer, the whole answer text without call
        markup, the calls)."""
        text = "".join(self._text)
        content, calls = parse_tool_calls(text)
        if calls:
            return content[self._sent :], content, calls  # content starts with what was sent
        return text[self._sent :], text, []


def _partial_tag_suffix(text: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of `<tool_call>`."""
    for size in range(min(len(OPEN_TAG) - 1, len(text)), 0, -1):
        if OPEN_TAG.startswith(text[-size:]):
            return size
    return 0


def wants_tools(tools: list[dict[str, Any]] | None, tool_choice: Any) -> bool:
    return bool(tools) and tool_choice != "none"


def forced_call_schema(tools: list[dict[str, Any]] | None, tool_choice: Any) -> dict[str, Any] | None:
    """A JSON schema that every allowed call matches, when the caller forces a call; else None.

    Raises ValueError (a sentence for the caller) for a named tool that is not in `tools`."""
    if not tools:
        return None
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        chosen = [t for t in tools if (t.get("function") or {}).get("name") == name]
        if not chosen:
            raise p.SentenceError(p.host_sentence(
                "tool_calls", "tool_choice names the tool '{name}', which is not in tools.", name=str(name)
            ))
    elif tool_choice == "required":
        chosen = list(tools)
    else:
        return None
    options = []
    for tool in chosen:
        function = tool.get("function") or {}
        parameters = function.get("parameters") or {"type": "object"}
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": function.get("name", "")}, "arguments": parameters},
                "required": ["name", "arguments"],
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}


def parse_forced_call(text: str) -> list[dict[str, Any]]:
    call = _from_json(text.strip())
    return [call] if call is not None else []
