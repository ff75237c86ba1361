"""What has arrived of one answer streamed from a server, and the stats it comes to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.engine import protocol as p
from app.core.engine.base import ClientChatStats


@dataclass
class StreamedAnswer:
    """What has arrived of one streamed answer."""

    completion: bool  # /v1/completions (choices[0].text) rather than chat (choices[0].delta)
    pieces: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Any = None
    timings: dict[str, Any] = field(default_factory=dict)  # llama.cpp's server adds these
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    n_chunks: int = 0  # chunks that carried text or a tool call
    first_at: float | None = None
    last_at: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def take(self, chunk: Any, at: float) -> str:
        """Record one chunk; returns its new text ("" for role, usage or tool-call chunks)."""
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        extra = getattr(chunk, "model_extra", None) or {}
        if isinstance(extra.get("timings"), dict):
            self.timings = extra["timings"]
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return ""
        choice = choices[0]
        if choice.finish_reason:
            self.finish_reason = str(choice.finish_reason)
        if self.completion:
            text = choice.text or ""
            calls = None
        else:
            delta = choice.delta
            text = (delta.content or "") if delta is not None else ""
            calls = delta.tool_calls if delta is not None else None
        for call in calls or []:
            self._add_tool_call(call)
        if text or calls:
            self.n_chunks += 1
            self.first_at = self.first_at if self.first_at is not None else at
            self.last_at = at
        if text:
            self.pieces.append(text)
        return text

    def _add_tool_call(self, call: Any) -> None:
        entry = self.tool_calls.setdefault(
            int(call.index or 0), {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if call.id:
            entry["id"] = call.id
        function = call.function
        if function is not None:
            entry["function"]["name"] += function.name or ""
            entry["function"]["arguments"] += function.arguments or ""

    def stats(self, sent: float, done: float, finish: str, place: str, model: str) -> ClientChatStats:
        usage = self.usage
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0) if usage is not None else 0
        generated = completion_tokens if completion_tokens and finish != "cancelled" else self.n_chunks
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0) if usage is not None else 0
        prompt_tokens = prompt_tokens or int(self.timings.get("prompt_n") or 0)
        ttft = (self.first_at - sent) if self.first_at is not None else done - sent
        span = self.last_at - self.first_at if self.first_at is not None else 0.0
        rate = (generated - 1) / span if span > 0 and generated > 1 else 0.0
        prompt_ms = self.timings.get("prompt_ms")
        engine = p.ChatStats(
            prompt_tokens=prompt_tokens,
            generated_tokens=generated,
            time_to_first_token_s=float(prompt_ms) / 1000 if prompt_ms else ttft,
            total_s=done - sent,
            engine_eval_tokens_per_s=float(self.timings.get("predicted_per_second") or 0.0),
            engine_prompt_tokens_per_s=float(self.timings.get("prompt_per_second") or 0.0),
            prompt_tokens_evaluated=int(self.timings.get("prompt_n") or prompt_tokens),
            finish_reason=finish,
            tool_calls=tuple(self.tool_calls[i] for i in sorted(self.tool_calls)),
        )
        return ClientChatStats(
            engine=engine,
            time_to_first_token_s=ttft,
            client_tokens_per_s=rate,
            total_s=done - sent,
            source=place,
            model=model,
        )
