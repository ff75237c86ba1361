"""Why the engine host died, in words, from what the app can see afterwards: how the process
ended (exit code or signal) and the last lines llama.cpp wrote to the engine log.

The log is the evidence, so nothing is guessed: "out of memory" is said only when llama.cpp or
CUDA said so (or the allocator threw), an assert is named with its own line, and a bare signal
is named as a signal. The sentence leads; the log line that shows it follows, for the person
who reports the problem.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

# What the crash was, for callers that react (retry with fewer GPU layers only on memory).
CAUSE_OUT_OF_MEMORY = "out_of_memory"
CAUSE_UNSUPPORTED = "unsupported_architecture"
CAUSE_ASSERT = "assert"
CAUSE_SIGNAL = "signal"
CAUSE_EXIT = "exit"
CAUSE_STOPPED_ON_PURPOSE = "stopped"
CAUSE_NO_ANSWER = "no_answer"

_MEMORY = re.compile(
    r"out of memory|cudaMalloc failed|failed to allocate|unable to allocate|std::bad_alloc|"
    r"ErrorOutOfDeviceMemory|cannot allocate memory",
    re.IGNORECASE,
)
# ggml_abort() prints "<source file>:<line>: <what>" (GGML_ASSERT's "GGML_ASSERT(x) failed" too);
# C's assert() prints "Assertion `x' failed".
_ASSERT = re.compile(r"\.(?:c|cc|cpp|cu|m|mm|h|hpp):\d+: \S|GGML_ASSERT\(|Assertion [`'].*failed")
_SOURCE_PATH = re.compile(r"^\S*[/\\]([^/\\\s]+\.(?:c|cc|cpp|cu|m|mm|h|hpp):\d+: )")
_ARCH = re.compile(r"unknown model architecture:?\s*'?([^'\s]*)'?", re.IGNORECASE)

_SIGNAL_WORDS = {
    "SIGSEGV": "a memory access error in the engine's native code",
    "SIGBUS": "the model file could not be read any more (it changed, shrank or its disk went away)",
    "SIGFPE": "an arithmetic error (such as a division by zero) in the engine's native code",
    "SIGILL": "an instruction this processor does not have",
    "SIGABRT": "the engine's native code gave up (abort)",
    "SIGKILL": (
        "it was killed from outside, by the system (often because the computer ran out of memory) "
        "or by another program"
    ),
    "SIGTERM": "it was asked to stop by another program",
}


@dataclass(frozen=True)
class CrashCause:
    kind: str  # CAUSE_*
    sentence: str  # what happened, for people; no advice
    signal_name: str | None = None
    log_line: str = ""  # the engine's own line that shows it, when there is one


def signal_name(exit_code: int | None) -> str | None:
    if exit_code is None or exit_code >= 0:
        return None
    try:
        return signal.Signals(-exit_code).name
    except ValueError:
        return f"signal {-exit_code}"


def explain_crash(exit_code: int | None, log_tail: str, *, killed_on_purpose: bool = False) -> CrashCause:
    """What the end of the host looked like, as a cause and one sentence."""
    name = signal_name(exit_code)
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    if killed_on_purpose:
        return CrashCause(CAUSE_STOPPED_ON_PURPOSE, "it was stopped on request", name)
    if exit_code is None:
        return CrashCause(CAUSE_NO_ANSWER, "it stopped answering", None, _last(lines))
    memory = _last_match(lines, _MEMORY)
    if memory:
        return CrashCause(CAUSE_OUT_OF_MEMORY, "it ran out of memory", name, memory)
    arch = _last_match(lines, _ARCH)
    if arch:
        found = _ARCH.search(arch)
        what = f" ('{found.group(1)}')" if found and found.group(1) else ""
        return CrashCause(
            CAUSE_UNSUPPORTED, f"the model's architecture{what} is not supported by this engine", name, arch
        )
    failed = _last_match(lines, _ASSERT)
    if failed:
        return CrashCause(CAUSE_ASSERT, "llama.cpp stopped on one of its internal checks", name, failed)
    if name is not None:
        words = _SIGNAL_WORDS.get(name, "a signal from the system")
        return CrashCause(CAUSE_SIGNAL, f"it ended with {name}: {words}", name, _last(lines))
    return CrashCause(CAUSE_EXIT, f"it exited with code {exit_code}", None, _last(lines))


def crash_sentence(cause: CrashCause, model_name: str = "", loading: bool = False) -> str:
    """The whole message: what happened, that nothing is lost, and the evidence."""
    what = f" while {'loading' if loading else 'running'} {model_name}" if model_name else ""
    text = f"The model engine stopped{what}: {cause.sentence}."
    if cause.kind in (CAUSE_ASSERT, CAUSE_UNSUPPORTED, CAUSE_SIGNAL) and cause.signal_name != "SIGKILL":
        text += " The model file may be damaged or made for a newer engine."
    text += " Your conversation is safe; you can reload the model."
    if cause.log_line:
        line = _SOURCE_PATH.sub(r"\1", cause.log_line)  # the source file's name, not its path
        text += f" Last engine log line: {_short(line)}"
    return text


def _last_match(lines: list[str], pattern: re.Pattern[str]) -> str:
    return next((line for line in reversed(lines) if pattern.search(line)), "")


def _last(lines: list[str]) -> str:
    return lines[-1] if lines else ""


def _short(line: str, limit: int = 240) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
