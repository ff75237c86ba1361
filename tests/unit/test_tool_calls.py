"""Tool calls written by a model (Hermes/Qwen `<tool_call>` markup) and forced calls."""

from __future__ import annotations

import json

import pytest

from app.core.engine.tool_calls import ToolCallFilter, forced_call_schema, parse_forced_call, parse_tool_calls

WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {}}}},
}


def test_calls_are_parsed_out_of_the_text() -> None:
    text = 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    content, calls = parse_tool_calls(text)
    assert content == "Let me look.\n"
    assert calls[0]["type"] == "function" and calls[0]["id"].startswith("call_")
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}


def test_a_broken_call_stays_text() -> None:
    text = "<tool_call>{not json}</tool_call>"
    assert parse_tool_calls(text) == (text, [])


def test_the_filter_streams_text_but_never_the_markup() -> None:
    pieces = ["Sure", ", one moment. <to", 'ol_call>{"name": "get_weather", ']
    pieces += ['"arguments": {}}', "</tool_call>"]
    flt = ToolCallFilter()
    shown = "".join(flt.feed(piece) for piece in pieces)
    held, content, calls = flt.finish()
    assert shown + held == content == "Sure, one moment. "
    assert "<" not in shown and [c["function"]["name"] for c in calls] == ["get_weather"]


def test_the_filter_gives_back_a_held_tail_that_was_no_call() -> None:
    flt = ToolCallFilter()
    shown = flt.feed("a < b and x <tool")
    held, content, calls = flt.finish()
    assert shown + held == content == "a < b and x <tool" and calls == []


def test_forced_choices_make_a_schema() -> None:
    assert forced_call_schema([WEATHER], "auto") is None
    named = forced_call_schema([WEATHER], {"type": "function", "function": {"name": "get_weather"}})
    assert named is not None and named["properties"]["name"] == {"const": "get_weather"}
    assert forced_call_schema([WEATHER, WEATHER], "required") == {"anyOf": [named, named]}
    with pytest.raises(ValueError, match="not in tools"):
        forced_call_schema([WEATHER], {"type": "function", "function": {"name": "nope"}})
    assert parse_forced_call('{"name": "get_weather", "arguments": {"city": "Oslo"}}')[0]["function"][
        "arguments"
    ] == '{"city": "Oslo"}'
