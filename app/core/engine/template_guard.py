"""A model's chat template is code from the internet: Jinja that may raise, loop for minutes or
build a gigantic prompt. llama-cpp-python compiles it when the model loads and renders it for
every answer, inside the engine host. This module bounds both and turns every failure into one
plain sentence, so a hostile template costs a message, never a hang or a stack trace.

`install()` (once, in the host) wraps llama-cpp-python's Jinja2ChatFormatter: compiling gets a
deadline and a template that cannot be compiled becomes a formatter that reports why when used
(the host then picks the architecture's standard format instead); rendering gets a deadline, a
size limit, and its errors become `TemplateFailed`.

The deadline interrupts the host's main thread (where requests run) from a timer thread with
`_thread.interrupt_main`, which works on every platform and stops pure-Python Jinja code at its
next bytecode. Nothing else is running on that thread while a template renders.
"""

from __future__ import annotations

import _thread
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from app.core.engine import protocol as p

log = logging.getLogger("enclave.engine.host")

RENDER_DEADLINE_S = 5.0  # a real template renders a long conversation in milliseconds
COMPILE_DEADLINE_S = 10.0
MAX_PROMPT_CHARS = 8_000_000  # ~2M tokens: more than any context; past it, the template is broken

T = TypeVar("T")


class TemplateFailed(Exception):
    """The model's chat template could not format the conversation; the message is plain
    (its English; `sentence` says it in the window's language, protocol.shown)."""

    def __init__(self, sentence: p.Sentence) -> None:
        super().__init__(sentence.english())
        self.sentence = sentence


class _Deadline(BaseException):
    """Raised into the main thread when a template runs past its deadline."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise _Deadline in the main thread if the block runs longer than `seconds`. Outside the
    main thread (tests calling the formatter directly) it only times, it cannot interrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    lock = threading.Lock()
    state = {"active": True, "fired": False, "delivered": False}

    def on_interrupt(_sig: int, _frame: FrameType | None) -> None:
        if state["fired"]:
            state["delivered"] = True
            raise _Deadline
        raise KeyboardInterrupt

    def fire() -> None:
        with lock:
            if state["active"]:
                state["fired"] = True
                _thread.interrupt_main(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        try:
            yield
        finally:
            with lock:
                state["active"] = False
            timer.cancel()
            if state["fired"] and not state["delivered"]:  # on its way: take it here, not later
                end = time.monotonic() + 1.0
                while time.monotonic() < end:
                    time.sleep(0.001)
    finally:
        signal.signal(signal.SIGINT, previous)


def guarded(what: str, seconds: float, work: Callable[[], T]) -> T:
    """Run template code (`what`: "load" or "format the conversation") with a deadline;
    TemplateFailed for anything it raises, in words."""
    loading = what == "load"
    try:
        with deadline(seconds):
            return work()
    except _Deadline:
        limit = f"{seconds:g}"
        raise TemplateFailed(
            p.host_sentence(
                "template_guard",
                "This model's chat template took longer than {seconds} seconds to load and was "
                "stopped; the template is broken or hostile.",
                seconds=limit,
            )
            if loading
            else p.host_sentence(
                "template_guard",
                "This model's chat template took longer than {seconds} seconds to format the "
                "conversation and was stopped; the template is broken or hostile.",
                seconds=limit,
            )
        ) from None
    except RecursionError:
        raise TemplateFailed(
            p.host_sentence(
                "template_guard", "This model's chat template calls itself without end (load stopped)."
            )
            if loading
            else p.host_sentence(
                "template_guard",
                "This model's chat template calls itself without end (format the conversation stopped).",
            )
        ) from None
    except MemoryError:
        raise TemplateFailed(
            p.host_sentence(
                "template_guard",
                "This model's chat template needs more memory than this computer has to load.",
            )
            if loading
            else p.host_sentence(
                "template_guard",
                "This model's chat template needs more memory than this computer has to format "
                "the conversation.",
            )
        ) from None
    except TemplateFailed:
        raise
    except Exception as exc:  # Jinja's errors, and the template's own raise_exception(...)
        reason = _reason(exc)
        raise TemplateFailed(
            p.host_sentence(
                "template_guard", "This model's chat template failed to load: {reason}", reason=reason
            )
            if loading
            else p.host_sentence(
                "template_guard",
                "This model's chat template failed to format the conversation: {reason}",
                reason=reason,
            )
        ) from None


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    return text if text.endswith((".", "!", "?")) else text + "."


_installed = False


def install() -> None:
    """Wrap llama-cpp-python's Jinja formatter (idempotent). Call in the engine host only."""
    global _installed
    if _installed:
        return
    from llama_cpp import llama_chat_format

    cls: Any = llama_chat_format.Jinja2ChatFormatter
    original_init = cls.__init__
    original_call = cls.__call__

    def init(self: Any, template: str, *args: Any, **kwargs: Any) -> None:
        self.broken = None
        try:
            guarded("load", COMPILE_DEADLINE_S, lambda: original_init(self, template, *args, **kwargs))
        except TemplateFailed as exc:
            log.warning("chat template unusable: %s", exc)
            self.broken = exc.sentence
            self.template = template
            self.stop_token_ids = None

    def call(self: Any, **kwargs: Any) -> Any:
        if getattr(self, "broken", None):
            raise TemplateFailed(self.broken)
        result = guarded("format the conversation", RENDER_DEADLINE_S, lambda: original_call(self, **kwargs))
        if len(result.prompt) > MAX_PROMPT_CHARS:
            raise TemplateFailed(p.host_sentence(
                "template_guard",
                "This model's chat template made a prompt of {count} characters "
                "from this conversation; the template is broken or hostile.",
                count=len(result.prompt),
            ))
        return result

    cls.__init__ = init
    cls.__call__ = call
    _installed = True


def probe(formatter: Any) -> p.Sentence | None:
    """None when the template formats a small ordinary conversation; else why not (plain)."""
    if formatter is None:
        return None
    broken: p.Sentence | None = getattr(formatter, "broken", None)
    if broken:
        return broken
    sample = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "How are you?"},
    ]
    try:
        formatter(messages=sample, functions=None, function_call=None, tools=None, tool_choice=None)
    except TemplateFailed as exc:
        try:  # some templates refuse a system message; that is a choice, not a broken template
            formatter(messages=sample[1:], functions=None, function_call=None, tools=None, tool_choice=None)
        except TemplateFailed:
            return exc.sentence
    return None
