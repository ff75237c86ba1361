"""The chat page's views bound to the core ChatSession: what the user does goes to the session,
what the session tells (events) is drawn. No conversation state lives here; the session owns it
(app/core/chat/session.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtWidgets import QDialog, QStatusBar

from app.core.chat.session import ChatSession
from app.core.chat.store import Message
from app.core.engine.base import EngineCrashed
from app.core.engine.service import EngineService
from app.core.i18n import translate, translate_noop
from app.ui.chat_view import ChatView, Composer
from app.ui.conversation_list import ConversationList
from app.ui.message_widget import MessageWidget
from app.ui.notice_bar import NoticeBar

EMPTY_NO_MODEL = translate_noop(
    "chat_presenter",
    "To chat, Enclave needs a model: the program that writes the answers. It can choose one "
    "that suits this computer and download it for you — one click below.\n"
    "Already have a model file (.gguf)? Click “Open model…” above, or drop it on this window.\n"
    "Your conversations stay on this computer.",
)
EMPTY_READY = translate_noop("chat_presenter", "Ask a question below to start.")
EDITED_NOTE = translate_noop(
    "chat_presenter",
    "Your edited question is a new version. The earlier question and its answers are kept: "
    "use ‹ › beside the question to switch between them.",
)


class ChatPresenter:
    def __init__(
        self,
        session: ChatSession,
        service: EngineService,
        chat_view: ChatView,
        composer: Composer,
        sidebar: ConversationList,
        notice: NoticeBar,
        status_bar: QStatusBar,
        reload_model: Callable[[], None],
        on_thread_shown: Callable[[], None] = lambda: None,
        before_action: Callable[[], None] = lambda: None,
    ) -> None:
        """reload_model: offered after an engine crash; on_thread_shown: the messages on screen
        changed (the context meter follows); before_action: runs before anything that asks or
        switches conversations (the settings drawer saves what is typed in it)."""
        self.session = session
        self.service = service
        self.chat_view = chat_view
        self.composer = composer
        self.sidebar = sidebar
        self.notice = notice
        self.status_bar = status_bar
        self.reload_model = reload_model
        self.on_thread_shown = on_thread_shown
        self.before_action = before_action
        self.streaming: MessageWidget | None = None  # the widget of the answer being written
        # An answer whose widget is not made yet, and what it waits for (_on_answer_started).
        self._answer_to_show: Message | None = None
        self._waiting_to_show = ""
        self.link_dialog: QDialog | None = None  # the last "open this link?" question
        self._destination_shown: str | None = None  # the "answered by the server" notice shown
        self._bind()

    def _bind(self) -> None:
        session, view, composer, sidebar = self.session, self.chat_view, self.composer, self.sidebar
        composer.submitted.connect(self._send)
        composer.stopRequested.connect(session.stop)
        view.editSubmitted.connect(self._resend_edited)
        view.regenerateRequested.connect(lambda message: self._first(session.regenerate, message))
        view.versionRequested.connect(session.switch_version)
        view.linkActivated.connect(self._open_link)
        sidebar.newChatRequested.connect(self.new_chat)
        sidebar.conversationSelected.connect(lambda cid: self._first(session.open_conversation, cid))
        sidebar.conversationDeleted.connect(session.conversation_deleted)
        sidebar.conversationsChanged.connect(self.refresh_list)
        sidebar.statusMessage.connect(lambda text: self.status_bar.showMessage(text, 5000))
        session.conversation_changed.connect(self._on_conversation_changed)
        session.thread_changed.connect(self.show_thread)
        session.message_added.connect(self._on_message_added)
        session.answer_started.connect(self._on_answer_started)
        session.answer_tokens.connect(self._on_tokens)
        session.answer_finished.connect(self._on_answer_finished)
        session.answer_failed.connect(self._on_answer_failed)
        session.busy_changed.connect(self._on_busy)
        session.notice.connect(self._on_notice)
        session.waiting.connect(self._on_waiting)
        # In a later turn of the event loop, once: an answer's end emits it after rendering and
        # saving the answer, and reading and rebuilding the list in the same turn was a third of
        # that turn's stall (bench_gui_stall.py).
        self._list_timer = self._next_turn(self.refresh_list)
        self._answer_timer = self._next_turn(self._show_answer)
        session.conversations_changed.connect(self.refresh_list_soon)
        for event in (self.service.loaded, self.service.unloaded, self.service.crashed):
            event.connect(self.update_composer)
        self.service.engine_changed.connect(self._on_engine_changed)

    # ---- user actions -------------------------------------------------------------------
    def _first(self, action: Callable[..., Any], *args: Any) -> None:
        self.before_action()
        action(*args)

    def _resend_edited(self, message: Message, text: str) -> None:
        self.before_action()
        if self.session.edit_and_resend(message, text):
            # The later messages leave the screen: say where they are.
            self.status_bar.showMessage(translate("chat_presenter", EDITED_NOTE), 10_000)

    def _open_link(self, _message: Message, url: QUrl) -> None:
        """A link in an answer: the browser only after the user saw the address and said yes."""
        from app.ui.link_confirm import ask_to_open

        self.link_dialog = ask_to_open(url, self.chat_view.window())

    def _send(self, text: str) -> None:
        self.before_action()
        if not self.session.send(text) and not self.composer.edit.toPlainText().strip():
            self.composer.edit.setPlainText(text)  # not sent (a full disk): the question is kept

    def new_chat(self) -> None:
        self.before_action()
        if self.session.new_chat():
            self.sidebar.list.clearSelection()
            self.composer.edit.setFocus()

    # ---- what the session says ----------------------------------------------------------
    def _on_conversation_changed(self, conversation_id: int | None) -> None:
        if conversation_id is None:
            self.chat_view.clear()
        else:
            self.show_thread()
        self.refresh_list()
        self.update_composer()

    def show_thread(self) -> None:
        # An answer being written keeps streaming into its widget in the new thread (or one
        # still to be made: the thread shown has it now, if it is still the thread's).
        answer = self.streaming.message if self.streaming is not None else self._answer_to_show
        self._answer_to_show = None
        self._answer_timer.stop()
        self.chat_view.set_messages(self.session.thread(), self.session.versions_of)
        last = self.chat_view.last()
        if answer is not None and last is not None and last.message.id == answer.id:
            self.streaming = last
            if self._waiting_to_show and not self.session.streaming_text:
                last.set_waiting_text(self._waiting_to_show)
        self.on_thread_shown()

    def _next_turn(self, slot: Callable[[], None]) -> QTimer:
        """A timer that runs `slot` once in a later turn of the event loop, however often it
        is started before then (it lives as long as the chat view)."""
        timer = QTimer(self.chat_view)
        timer.setSingleShot(True)
        timer.setInterval(0)
        timer.timeout.connect(slot)
        return timer

    def refresh_list_soon(self) -> None:
        self._list_timer.start()

    def close(self) -> None:
        """The window closes: a list refresh still waiting would read a closed store."""
        self._list_timer.stop()
        self._answer_timer.stop()

    def refresh_list(self) -> None:
        self.sidebar.set_conversations(self.session.store.list_conversations(), self.session.conversation_id)
        self._update_empty_state()

    def _on_message_added(self, message: Message) -> None:
        self.chat_view.add_message(message)
        self._show_destination()

    def _on_answer_started(self, message: Message) -> None:
        last = self.chat_view.last()
        self.streaming = last if last is not None and last.message.id == message.id else None
        if self.streaming is None:
            # The answer's widget comes in the next turn of the event loop (or with its first
            # words, if they come first): made in the same turn as the question's, the two were
            # the longest stall of a send (bench_gui_stall.py).
            self._answer_to_show, self._waiting_to_show = message, ""
            self._answer_timer.start()
        self.chat_view.set_actions_enabled(False)

    def _show_answer(self) -> None:
        message, self._answer_to_show = self._answer_to_show, None
        self._answer_timer.stop()
        if message is None:
            return
        self.streaming = self.chat_view.add_message(message)
        if self._waiting_to_show:
            self.streaming.set_waiting_text(self._waiting_to_show)

    def _streaming_widget(self, message: Message) -> MessageWidget | None:
        """The widget of this answer, made now if it was still to come."""
        if self._answer_to_show is not None and self._answer_to_show.id == message.id:
            self._show_answer()
        widget = self.streaming
        return widget if widget is not None and widget.message.id == message.id else None

    def _on_waiting(self, message: Message, text: str) -> None:
        if self._answer_to_show is not None and self._answer_to_show.id == message.id:
            self._waiting_to_show = text  # shown when the widget is made
            return
        widget = self._streaming_widget(message)
        if widget is not None:
            widget.set_waiting_text(text)

    def _on_tokens(self, message: Message, text: str) -> None:
        widget = self._streaming_widget(message)
        if widget is not None:
            widget.append(text)

    def _on_answer_finished(self, message: Message) -> None:
        widget = self._streaming_widget(message)
        self.streaming = None
        if widget is not None:
            widget.finish(message.status, message.stats)
            if self.chat_view.decorate is not None:
                self.chat_view.decorate(widget)
        self.chat_view.set_actions_enabled(True)
        self.on_thread_shown()

    def _on_answer_failed(self, answer: Message, exc: Exception) -> None:
        details = getattr(exc, "log_tail", "")
        actions: list[tuple[str, Any]] = []
        if isinstance(exc, EngineCrashed) and self.service.model_path is not None:
            actions.append((translate("chat_presenter", "Reload model"), self.reload_model))
        message = getattr(exc, "message", None) or str(exc)
        if answer.content:  # the session kept what had arrived
            message += " " + translate("chat_presenter", "What had arrived is kept, marked as interrupted.")
        if details:
            message += "\n" + translate("chat_presenter", "Last engine log lines:") + "\n" + details
        self.notice.show_message(message, "error", actions, details)
        self.update_composer()

    def _on_busy(self, busy: bool) -> None:
        self.composer.set_generating(busy)
        if not busy:
            self.chat_view.set_actions_enabled(True)

    def _on_notice(self, text: str, level: str) -> None:
        if level == "info":
            self.status_bar.showMessage(text, 8000)
        else:
            self.notice.show_message(text, level)

    def _on_engine_changed(self) -> None:
        self.update_composer()
        self._show_destination()

    # ---- what the empty chat and the composer say ---------------------------------------
    def update_composer(self, *_args: Any) -> None:
        ready = self.service.is_ready
        self.composer.set_can_send(
            ready,
            translate("chat_presenter", "Load a model first")
            if not self.service.is_remote
            else translate("chat_presenter", "Choose a server model in Settings"),
        )
        self._update_empty_state()
        self._show_destination()

    def _update_empty_state(self) -> None:
        service = self.service
        newcomer = not service.is_ready and not service.is_remote and service.model_path is None
        self.chat_view.set_empty_text(
            translate("chat_presenter", EMPTY_READY if service.is_ready else EMPTY_NO_MODEL),
            offer_start=newcomer,
        )

    def _show_destination(self) -> None:
        """Before the first message, with a server: say plainly where the words go."""
        text = self.session.destination_notice()
        if text:
            self.notice.show_message(text, "info")
            self._destination_shown = text
        elif self._destination_shown is not None and self.notice.text == self._destination_shown:
            self.notice.hide()  # (compared with what was shown: the sentence is translated)
