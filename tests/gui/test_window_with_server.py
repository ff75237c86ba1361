"""The window answered by a company's server (a real llama_cpp.server on 127.0.0.1): choosing
it in Settings switches the window's engine, the window says plainly before the first message
where the words go, the answer says where it came from, and a server that dies mid-answer
leaves the partial answer kept and marked, with a plain sentence."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from app.core.chat.store import STATUS_COMPLETE, STATUS_INTERRUPTED
from app.core.engine import protocol as p
from app.core.secrets import set_server_key
from tests.gui.events import wait_event
from tests.hub_fixtures import MemoryKeyring, memory_keyring
from tests.llama_server import LlamaServer

__all__ = ["memory_keyring"]

KEY = "window-test-key"
ALIAS = "company-model"


def use_server(qtbot: Any, window: Any, server: LlamaServer) -> None:
    set_server_key(server.url, KEY)
    with wait_event(qtbot, window.service.engine_changed, timeout=10_000):
        window.settings_store.update(engine_mode="server", server_url=server.url, server_model=ALIAS)
    assert window.service.is_remote


def test_a_server_answers_and_the_window_says_so(
    qtbot: Any, make_window: Any, memory_keyring: MemoryKeyring, instruct_model_path: Path
) -> None:
    with LlamaServer(instruct_model_path, alias=ALIAS, api_key=KEY, n_threads=1) as server:
        window = make_window()
        use_server(qtbot, window, server)
        where = f"127.0.0.1:{server.port}"
        # Before the first message: where the words go, plainly; Send works without a local model.
        assert window.notice.isVisible() and where in window.notice.text
        assert "sent to it" in window.notice.text
        assert where in window.model_bar.plan_label.text()
        assert window.composer.send_button.isEnabled()

        window.session.base_sampling = p.SamplingParams(max_tokens=12, seed=1)
        with wait_event(qtbot, window.session.answer_finished, timeout=60_000) as finished:
            window.composer.edit.setPlainText("Name a colour.")
            window.composer._submit()
        answer = finished.args[0]
        assert answer.status == STATUS_COMPLETE and answer.content
        assert answer.stats["source"] == where and answer.stats["model"] == ALIAS
        footer = window.chat_view.widgets[-1].footer.text()
        assert f"from the server {where}" in footer

        # Back to this computer: the window says nothing about a server any more.
        with wait_event(qtbot, window.service.engine_changed, timeout=10_000):
            window.settings_store.update(engine_mode="local")
        assert not window.service.is_remote
        assert where not in window.model_bar.plan_label.text()


def test_a_server_that_dies_mid_answer_keeps_what_arrived(
    qtbot: Any, make_window: Any, memory_keyring: MemoryKeyring, instruct_model_path: Path
) -> None:
    server = LlamaServer(instruct_model_path, alias=ALIAS, api_key=KEY, n_threads=1)
    with server:
        window = make_window()
        use_server(qtbot, window, server)
        window.session.base_sampling = p.SamplingParams(max_tokens=400, seed=1)
        killed: list[bool] = []

        def kill_after_some_text(_message: Any, _text: str) -> None:
            if not killed and len(window.session.streaming_text) > 20:
                killed.append(True)
                server.signal(signal.SIGKILL)

        window.session.answer_tokens.connect(kill_after_some_text)
        with wait_event(qtbot, window.session.answer_failed, timeout=60_000) as failed:
            window.composer.edit.setPlainText("Write a long story about a dragon who learns to cook.")
            window.composer._submit()
        message, exc = failed.args
        assert exc.kind in (p.ERROR_CUT_OFF, p.ERROR_UNREACHABLE)
        assert message.status == STATUS_INTERRUPTED and len(message.content) > 20
        saved = window.store.messages(window.session.conversation_id)[-1]
        assert saved.status == STATUS_INTERRUPTED and saved.content == message.content
        assert window.notice.isVisible() and "kept" in window.notice.text
        assert "Interrupted" in window.chat_view.widgets[-1].footer.text()
