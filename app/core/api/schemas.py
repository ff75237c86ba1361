"""The request bodies of the OpenAI API that Enclave serves, as pydantic models.

Permissive on purpose: clients send fields we do not use (user, logit_bias, parallel_tool_calls,
...), and refusing them would break programs written for OpenAI. Fields that change the answer
and that we cannot honour (n > 1, images) are refused with a plain sentence instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.core.engine import protocol as p


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class _Generation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = ""
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)  # not OpenAI's, but llama.cpp servers accept it
    min_p: float | None = Field(default=None, ge=0, le=1)
    repeat_penalty: float | None = Field(default=None, gt=0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = 1

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s]

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def sampling(self, max_tokens: int | None, default_max_tokens: int) -> p.SamplingParams:
        """Our sampling defaults where the client says nothing; max_tokens 0 = up to the context."""
        base = p.SamplingParams()
        return p.SamplingParams(
            temperature=base.temperature if self.temperature is None else self.temperature,
            top_p=base.top_p if self.top_p is None else self.top_p,
            top_k=base.top_k if self.top_k is None else self.top_k,
            min_p=base.min_p if self.min_p is None else self.min_p,
            repeat_penalty=base.repeat_penalty if self.repeat_penalty is None else self.repeat_penalty,
            max_tokens=default_max_tokens if max_tokens is None else max_tokens,
            seed=self.seed,
        )


class ChatCompletionBody(_Generation):
    messages: list[dict[str, Any]]
    max_completion_tokens: int | None = Field(default=None, ge=0)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None


class CompletionBody(_Generation):
    prompt: str | list[str]
    echo: bool = False


class EmbeddingBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = ""
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: str = "float"  # "float" or "base64" (little-endian float32)
