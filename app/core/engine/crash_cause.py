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

from app.core.i18n import translate, translate_noop

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

# Translated where the sentence is made (explain_crash runs in the app, not in the host).
_SIGNAL_WORDS = {
    "SIGSEGV": translate_noop("crash_cause", "a memory access error in the engine's native code"),
    "SIGBUS": translate_noop(
        "crash_cause", "the model file could not be read any more (it changed, shrank or its disk went away)"
    ),
    "SIGFPE": translate_noop(
        "crash_cause", "an arithmetic error (such as a division by zero) in the engine's native code"
    ),
    "SIGILL": translate_noop("crash_cause", "an instruction this processor does not have"),
    "SIGABRT": translate_noop("crash_cause", "the engine's native code gave up (abort)"),
    "SIGKILL": translate_noop(
        "crash_cause",
        "it was killed from outside, by the system (often because the computer ran out of memory) "
        "or by another program",
    ),
    "SIGTERM": translate_noop("crash_cause", "it was asked to stop by another program"),
}
_SOME_SIGNAL = translate_noop("crash_cause", "a signal from the system")


@dataclass(frozen=True)
class CrashCause:
    kind: str  # CAUSE_*
    sentence: str  # what happened, for people (a clause: "it ran out of memory"); no advice
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
        return CrashCause(
            CAUSE_STOPPED_ON_PURPOSE, translate("crash_cause", "it was stopped on request"), name
        )
    if exit_code is None:
        return CrashCause(
            CAUSE_NO_ANSWER, translate("crash_cause", "it stopped answering"), None, _last(lines)
        )
    memory = _last_match(lines, _MEMORY)
    if memory:
        return CrashCause(CAUSE_OUT_OF_MEMORY, translate("crash_cause", "it ran out of memory"), name, memory)
    arch = _last_match(lines, _ARCH)
    if arch:
        found = _ARCH.search(arch)
        if found and found.group(1):
            what = translate(
                "crash_cause", "the model's architecture ('{architecture}') is not supported by this engine"
            ).format(architecture=found.group(1))
        else:
            what = translate("crash_cause", "the model's architecture is not supported by this engine")
        return CrashCause(CAUSE_UNSUPPORTED, what, name, arch)
    failed = _last_match(lines, _ASSERT)
    if failed:
        return CrashCause(
            CAUSE_ASSERT,
            translate("crash_cause", "llama.cpp stopped on one of its internal checks"),
            name,
            failed,
        )
    if name is not None:
        words = translate("crash_cause", _SIGNAL_WORDS.get(name, _SOME_SIGNAL))
        sentence = translate("crash_cause", "it ended with {signal}: {meaning}").format(
            signal=name, meaning=words
        )
        return CrashCause(CAUSE_SIGNAL, sentence, name, _last(lines))
    sentence = translate("crash_cause", "it exited with code {code}").format(code=exit_code)
    return CrashCause(CAUSE_EXIT, sentence, None, _last(lines))


def crash_sentence(cause: CrashCause, model_name: str = "", loading: bool = False) -> str:
    """The whole message: what happened, that nothing is lost, and the evidence. Sentences
    joined by a space; the first has the cause's clause after its colon."""
    if model_name and loading:
        first = translate("crash_cause", "The model engine stopped while loading {model}: {cause}.")
    elif model_name:
        first = translate("crash_cause", "The model engine stopped while running {model}: {cause}.")
    else:
        first = translate("crash_cause", "The model engine stopped: {cause}.")
    sentences = [first.format(model=model_name, cause=cause.sentence)]
    if cause.kind in (CAUSE_ASSERT, CAUSE_UNSUPPORTED, CAUSE_SIGNAL) and cause.signal_name != "SIGKILL":
        sentences.append(
            translate("crash_cause", "The model file may be damaged or made for a newer engine.")
        )
    sentences.append(translate("crash_cause", "Your conversation is safe; you can reload the model."))
    if cause.log_line:
        line = _SOURCE_PATH.sub(r"\1", cause.log_line)  # the source file's name, not its path
        sentences.append(translate("crash_cause", "Last engine log line: {line}").format(line=_short(line)))
    return " ".join(sentences)


def _last_match(lines: list[str], pattern: re.Pattern[str]) -> str:
    return next((line for line in reversed(lines) if pattern.search(line)), "")


def _last(lines: list[str]) -> str:
    return lines[-1] if lines else ""


def _short(line: str, limit: int = 240) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
