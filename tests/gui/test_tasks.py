"""Background tasks (app/ui/tasks.py): failures reach the widget; the log tells bugs from
expected, explained failures."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.core.hub import NetworkError
from app.ui.tasks import run_task


def _fail_with(exc: Exception) -> Any:
    def fn(_progress: Any, _token: Any) -> None:
        raise exc

    return fn


def test_an_explained_failure_is_one_log_line_and_a_bug_keeps_its_traceback(
    qtbot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[Exception] = []
    caplog.set_level(logging.WARNING, logger="enclave")
    plain = NetworkError("Enclave cannot reach Hugging Face.")
    run_task(_fail_with(plain), name="search", on_error=errors.append)
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5_000)
    assert errors == [plain]  # the widget gets the exception to show its message
    bug = KeyError("oops")
    run_task(_fail_with(bug), name="parse", on_error=errors.append)
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=5_000)

    search = [r for r in caplog.records if "search" in r.getMessage()]
    assert [r.levelno for r in search] == [logging.WARNING]
    assert "Traceback" not in search[0].getMessage()
    parse = [r for r in caplog.records if "parse" in r.getMessage()]
    assert [r.levelno for r in parse] == [logging.ERROR]
    assert "Traceback" in parse[0].getMessage() and "KeyError" in parse[0].getMessage()


def test_on_finished_runs_also_when_nobody_keeps_the_handle(qtbot: Any) -> None:
    """The handle is dropped from the live set when it finishes; that must come after the
    caller's own on_finished (it used to free the handle first, and on_finished never ran)."""
    seen: list[str] = []
    run_task(
        lambda _p, _t: 1,
        on_result=lambda _r: seen.append("result"),
        on_finished=lambda: seen.append("finished"),
    )
    run_task(_fail_with(ValueError("x")), on_error=lambda _e: seen.append("error"),
             on_finished=lambda: seen.append("finished after error"))  # fmt: skip
    qtbot.waitUntil(lambda: len(seen) == 4, timeout=5_000)
    assert set(seen) == {"result", "finished", "error", "finished after error"}
