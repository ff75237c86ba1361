"""A Hugging Face token another program left: the window asks once, plainly, and remembers.

A real window; the token is laid out the way other tools leave it (HF_TOKEN here); the OS
keyring is an in-memory one.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.core.settings import load_settings
from app.ui.token_question import OtherTokenQuestion
from tests.hub_fixtures import MemoryKeyring, memory_keyring

__all__ = ["memory_keyring"]

OTHER = "hf_from_another_program_123"
WAIT_MS = 6_000  # the question comes ~1.5 s after the window is on screen


def _question(qtbot: Any, window: Any) -> OtherTokenQuestion:
    qtbot.waitUntil(lambda: bool(window.models_area.token_questions), timeout=WAIT_MS)
    question = window.models_area.token_questions[-1]
    assert isinstance(question, OtherTokenQuestion)
    qtbot.waitUntil(question.isVisible)
    return question


@pytest.mark.parametrize(("button", "answer"), [("ignore_button", "ignore"), ("use_button", "use")])
def test_asked_once_plainly_and_the_answer_is_kept(
    button: str,
    answer: str,
    qtbot: Any,
    make_window: Any,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", OTHER)
    window = make_window()
    question = _question(qtbot, window)
    text = question.text() + question.informativeText()
    assert "HF_TOKEN" in text and "Should Enclave use it?" in text
    assert OTHER not in text  # where it is, never the token itself
    assert question.defaultButton() is question.ignore_button  # not used unless chosen
    qtbot.mouseClick(getattr(question, button), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.settings.other_hf_token == answer)
    assert load_settings().other_hf_token == answer
    window.close()

    again = make_window()  # the next start: no second question
    qtbot.wait(2_500)
    assert again.models_area.token_questions == []


def test_escape_counts_as_no(
    qtbot: Any, make_window: Any, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", OTHER)
    window = make_window()
    question = _question(qtbot, window)
    qtbot.keyClick(question, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.settings.other_hf_token == "ignore")


def test_not_asked_with_a_token_of_ones_own_or_nothing_to_ask_about(
    qtbot: Any, make_window: Any, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core import secrets

    monkeypatch.delenv("HF_TOKEN", raising=False)
    window = make_window()  # no token anywhere
    qtbot.wait(2_500)
    assert window.models_area.token_questions == []
    window.close()
    monkeypatch.setenv("HF_TOKEN", OTHER)
    secrets.set_token("hf_saved_in_enclave")
    other = make_window()  # another program's token, but the user saved one in Enclave
    qtbot.wait(2_500)
    assert other.models_area.token_questions == []
    assert load_settings().other_hf_token == ""


def test_settings_can_change_the_answer(
    qtbot: Any, make_window: Any, memory_keyring: MemoryKeyring
) -> None:
    window = make_window()
    window.show_page("settings")
    check = window.models_area.settings.other_token_check
    assert not check.isChecked()  # default: not used
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
    assert window.settings.other_hf_token == "use" and load_settings().other_hf_token == "use"
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
    assert window.settings.other_hf_token == "ignore"
