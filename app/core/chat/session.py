"""One conversation driven from start to end, without Qt: what the window (or any other client)
shows and what it can do with it.

The session owns the conversation on screen (which one, or a new chat not yet saved), sending a
question, streaming the answer, saving it while it streams, Stop, edit and regenerate with
versions, the context budget, the choice of document collections and the sources of each
answer; the documents step itself (passages, "Use more passages", summaries) is in
documents_step.py. The engine work runs on the engine queue's thread; the session changes
its state only on its owner's thread (`call_soon`, see app/core/calls.py), and tells observers
what happened through these events (psygnal):

    conversation_changed(int | None)   another conversation is on screen (None: a new chat), or
                                       the new chat was saved with its first question
    thread_changed()                   the messages on screen changed: show `thread()` again
    message_added(Message)             a question was appended to the thread
    answer_started(Message)            an answer began (the thread's last message)
    answer_tokens(Message, str)        more text of that answer
    answer_finished(Message)           it ended: complete, cancelled or interrupted (see .status)
    answer_failed(Message, Exception)  ...and why, when the engine failed (after answer_finished)
    busy_changed(bool)                 an answer is being written (Send becomes Stop)
    waiting(Message, str)              what an answer waits for before its first words, in words
    notice(str, str)                   a sentence for the user, and its level (info, warning)
    conversations_changed()            the list of conversations changed (new, renamed, newer)
    collections_changed(list)          the document collections this conversation uses

A streaming answer is saved at least once a second, cheaply: only the new text is appended
(ChatStore.append_draft); the whole text and its search entry are written once at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from psygnal import Signal

from app.core.calls import CallSoon, call_now
from app.core.cancel import CancelToken
from app.core.chat import documents_step as docs
from app.core.chat import presets as chat_presets
from app.core.chat.answer import AnswerInProgress, finished_answer
from app.core.chat.budget import ContextBudget, measure_budget, room_for_answer
from app.core.chat.chat_settings import ChatSettings
from app.core.chat.documents_step import EmbedderFactory
from app.core.chat.prompt import build_messages
from app.core.chat.store import (
    STATUS_CANCELLED,
    STATUS_STREAMING,
    ChatStore,
    Message,
    title_from_question,
)
from app.core.engine import protocol as p
from app.core.engine.base import ClientChatStats, Engine, EngineCrashed, EngineError
from app.core.engine.queue import WINDOW
from app.core.engine.service import EngineService
from app.core.errors import PlainError, is_disk_full
from app.core.i18n import translate, translate_noop

log = logging.getLogger("enclave.chat.session")

SAVE_INTERVAL_S = 1.0  # a streaming answer reaches the database at least this often
DISK_FULL_NOTICE = translate_noop(
    "session",
    "The disk is full: this chat could not be saved. Free some space; until then, what you "
    "see here is not kept when Enclave closes.",
)


class ChatSession:
    conversation_changed = Signal(object)
    thread_changed = Signal()
    message_added = Signal(object)
    answer_started = Signal(object)
    answer_tokens = Signal(object, str)
    answer_finished = Signal(object)
    answer_failed = Signal(object, object)
    busy_changed = Signal(bool)
    waiting = Signal(object, str)
    notice = Signal(str, str)
    conversations_changed = Signal()
    collections_changed = Signal(list)

    def __init__(
        self,
        store: ChatStore,
        service: EngineService,
        call_soon: CallSoon = call_now,
        embedder_factory: EmbedderFactory | None = None,
        embedding_model: Callable[[], str] = lambda: "",
    ) -> None:
        self.store = store
        self.service = service
        self.call_soon = call_soon
        self.embedder_factory = embedder_factory
        self.embedding_model = embedding_model  # the chosen local embedding model ("" = bundled)
        self.base_sampling = p.SamplingParams()  # app defaults; a conversation's settings override
        self.conversation_id: int | None = None
        self.conversation_settings = ChatSettings(store)  # each conversation's (and the new chat's) settings
        self._answer: AnswerInProgress | None = None
        self._unsaved_answer_id: int | None = None  # the answer a full disk kept from being saved

    # ---- what is on screen --------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._answer is not None

    @property
    def streaming_text(self) -> str:
        return self._answer.text if self._answer is not None else ""

    def thread(self) -> list[Message]:
        """The messages on screen: the current path through edited questions and answers."""
        return self.store.messages(self.conversation_id) if self.conversation_id is not None else []

    def versions_of(self, message: Message) -> tuple[int, int]:
        """(which version, how many) of this turn, for "< 2/3 >"."""
        ids = [m.id for m in self.store.siblings(message.id)]
        return (ids.index(message.id) + 1 if message.id in ids else 1, max(1, len(ids)))

    def destination_notice(self) -> str | None:
        """A sentence to show before the first message of a conversation when messages leave
        this computer (a server answers), else None."""
        if not self.service.is_remote:
            return None
        if self.conversation_id is not None and self.thread():
            return None
        return translate(
            "session",
            "This chat is answered by the server {server}: your messages, and "
            "passages from documents you choose, are sent to it.",
        ).format(server=self.service.where)

    # ---- which conversation -------------------------------------------------------------
    def new_chat(self) -> bool:
        """An empty chat with the default settings, and no documents until the user picks some
        (a question about cats should not search last week's contracts)."""
        if self.busy:
            return False
        self.conversation_id = None
        self.conversation_settings.start_new_chat()
        self.conversation_changed.emit(None)
        self.collections_changed.emit(self.collections())
        return True

    def open_conversation(self, conversation_id: int) -> bool:
        if self.busy or conversation_id == self.conversation_id:
            return False
        self.conversation_id = conversation_id
        self.conversation_changed.emit(conversation_id)
        self.collections_changed.emit(self.collections())
        return True

    def open_newest(self) -> bool:
        """At start: show the most recent conversation, if there is one and none is shown."""
        conversations = self.store.list_conversations(limit=1)
        if not conversations or self.conversation_id is not None:
            return False
        return self.open_conversation(conversations[0].id)

    def conversation_deleted(self, conversation_id: int) -> None:
        """The sidebar deleted a conversation; if it is on screen, a new chat replaces it."""
        if conversation_id != self.conversation_id:
            return
        self.stop()  # its end is saved (the row goes with the conversation) but not shown
        self.conversation_id = None
        self.conversation_settings.start_new_chat()
        self.conversation_changed.emit(None)
        self.collections_changed.emit([])

    # ---- a conversation's settings (chat_settings.py) ----------------------------------
    def chat_settings(self) -> tuple[str, dict[str, Any]]:
        """The system prompt and settings the next answer uses (a new chat's pending ones)."""
        return self.conversation_settings.of(self.conversation_id)

    def save_chat_settings(self, system_prompt: str, updates: dict[str, Any]) -> None:
        self.conversation_settings.save(self.conversation_id, system_prompt, updates)

    def wanted_context(self, default: int) -> int:
        return self.conversation_settings.wanted_context(self.conversation_id, default)

    def sampling(self) -> p.SamplingParams:
        return self.conversation_settings.sampling(self.conversation_id, self.base_sampling)

    # ---- documents ----------------------------------------------------------------------
    def collections(self) -> list[str]:
        """The document collections this conversation answers from."""
        return self.conversation_settings.collections(self.conversation_id)

    def set_collections(self, names: list[str]) -> None:
        names = [n for n in names if n]
        self.conversation_settings.set_collections(self.conversation_id, names)
        self.collections_changed.emit(list(names))

    # ---- asking -------------------------------------------------------------------------
    def can_send(self) -> bool:
        return self.service.is_ready and not self.busy

    def send(self, text: str) -> bool:
        """Ask a question in the conversation on screen (a new chat is saved at its first)."""
        text = text.strip()
        if not text or not self.can_send():
            return False
        try:
            if self.conversation_id is None:
                self._create_conversation(text)
            assert self.conversation_id is not None
            question = self.store.add_message(self.conversation_id, "user", text)
            self.message_added.emit(question)
            self._start_answer()
        except Exception as exc:
            if self._said_disk_full(exc):
                return False  # nothing was sent; the question goes back in the box
            raise
        return True

    def _said_disk_full(self, exc: BaseException) -> bool:
        """A full disk is said in a sentence (True); any other error is not ours to hide."""
        if not is_disk_full(exc):
            return False
        log.warning("could not save the chat: the disk is full")
        self.notice.emit(translate("session", DISK_FULL_NOTICE), "error")
        return True

    def _create_conversation(self, first_question: str) -> None:
        conversation = self.store.create_conversation(
            title=title_from_question(first_question),
            model_path=self.service.model_name
            if self.service.is_remote
            else str(self.service.model_path or ""),
            system_prompt=self.conversation_settings.pending_system_prompt,
        )
        self.conversation_settings.give_to(conversation.id)
        self.conversation_id = conversation.id
        self.conversation_changed.emit(conversation.id)  # the new chat now has its own row

    def edit_and_resend(self, message: Message, text: str) -> bool:
        """A new version of a question (a sibling), answered at once; the old one stays."""
        if self.conversation_id is None or not self._can_change_thread():
            return False
        self.store.add_message(self.conversation_id, "user", text.strip(), parent_id=message.parent_id)
        self.thread_changed.emit()
        self._start_answer()
        return True

    def regenerate(self, message: Message) -> bool:
        """Another answer to the same question, as a new version of this one."""
        if self.conversation_id is None or message.parent_id is None or not self._can_change_thread():
            return False
        self._start_answer(parent_id=message.parent_id)
        return True

    def switch_version(self, message: Message, delta: int) -> bool:
        if self.busy:
            return False
        ids = [m.id for m in self.store.siblings(message.id)]
        index = ids.index(message.id) + delta if message.id in ids else -1
        if not 0 <= index < len(ids):
            return False
        self.store.switch_to(ids[index])
        self.thread_changed.emit()
        return True

    def more_passages(self, message: Message) -> bool:
        """Answer the same question again with twice the passages (a new version of this
        answer): what the user asks for when an answer missed something in the documents."""
        scale = docs.passage_scale(message)
        if scale >= docs.MAX_PASSAGE_SCALE or not self.collections():
            return False
        if self.conversation_id is None or message.parent_id is None or not self._can_change_thread():
            return False
        self._start_answer(parent_id=message.parent_id, passage_scale=scale * 2)
        return True

    def can_use_more_passages(self, message: Message) -> bool:
        return docs.can_use_more_passages(message)

    def summarise_document(self, path: str) -> bool:
        """ "Summarise this document": a question in the conversation on screen (a new chat when
        none is), answered by reading the whole file in parts (documents/summarise.py), with
        progress in the answer's waiting line and Stop as for any answer."""
        if not path or not self.can_send():
            return False
        question, stats = docs.summary_question(path)
        if self.conversation_id is None:
            self._create_conversation(question)
        assert self.conversation_id is not None
        message = self.store.add_message(self.conversation_id, "user", question, stats=stats)
        self.message_added.emit(message)
        self._start_answer()
        return True

    def stop(self) -> None:
        """Stop the answer being written; what it said so far stays, marked as stopped."""
        if self._answer is not None and self._answer.job is not None:
            self._answer.job.cancel()

    def _can_change_thread(self) -> bool:
        if self.busy:
            return False
        if not self.service.is_ready:
            self.notice.emit(
                translate("session", "Load a model first: open one with “Open model…”."), "warning"
            )
            return False
        return True

    # ---- the answer ---------------------------------------------------------------------
    def _start_answer(self, parent_id: int | None = None, passage_scale: int = 1) -> None:
        """Stream a new answer to the thread's last question (as a new version when parent_id
        names a question that already has an answer). `passage_scale`: times the usual number
        of passages from the documents ("Use more passages")."""
        assert self.conversation_id is not None
        conversation_id = self.conversation_id
        history = self.store.messages(conversation_id)
        if parent_id is not None:
            history = history[: next(i for i, m in enumerate(history) if m.id == parent_id) + 1]
        system_prompt, settings = self.chat_settings()  # one read for both
        sampling = chat_presets.conversation_sampling(settings, self.base_sampling)
        n_ctx = self.service.n_ctx or 4096
        answer_room = room_for_answer(sampling, n_ctx)
        prompt = build_messages(
            history, system_prompt, n_ctx, reserve_for_answer=answer_room, count=self.service.token_counter()
        )
        if prompt.dropped_messages:
            self.notice.emit(
                translate("session", "The {count} oldest messages were left out to fit the context.").format(
                    count=prompt.dropped_messages
                ),
                "info",
            )
        sampling = dataclasses.replace(
            sampling, max_tokens=min(sampling.max_tokens, max(64, n_ctx - prompt.estimated_tokens))
        )
        if parent_id is None:
            message = self.store.add_message(conversation_id, "assistant", "", status=STATUS_STREAMING)
        else:
            message = self.store.add_message(
                conversation_id, "assistant", "", status=STATUS_STREAMING, parent_id=parent_id
            )
            self.thread_changed.emit()
        answer = AnswerInProgress(message)
        self._answer = answer
        self.busy_changed.emit(True)
        self.answer_started.emit(message)
        summary_of = docs.summary_asked(history)
        if summary_of:
            self._start_summary(answer, summary_of, n_ctx, sampling)
            return
        self.waiting.emit(message, docs.first_waiting_sentence(bool(self.collections())))

        documents = docs.passage_request(
            history, self.collections(), n_ctx, answer_room, system_prompt, passage_scale
        )
        cache_key = f"conversation-{conversation_id}"
        message_id = message.id

        def work(engine: Engine, token: CancelToken) -> tuple[str, ClientChatStats]:
            messages = prompt.messages
            if documents is not None:
                passages = documents.find(self._embedder(engine), self.embedding_model() or None)
                self.call_soon(self._got_passages, message_id, passages)
                messages = passages.messages
            token.raise_if_cancelled()
            return engine.chat(
                messages,
                sampling,
                on_tokens=lambda text: self.call_soon(self._on_tokens, message_id, text),
                cache_key=cache_key,
                stop=token,
            )

        self._submit(answer, work, "chat")

    def _submit(self, answer: AnswerInProgress, work: docs.AnswerWork, name: str) -> None:
        """Queue the engine work that writes this answer; its end comes back on our thread."""
        message_id = answer.message.id
        answer.job = self.service.queue.submit(work, priority=WINDOW, name=name)
        answer.job.future.add_done_callback(
            lambda future: self.call_soon(self._on_answer_done, message_id, future)
        )

    def _start_summary(
        self, answer: AnswerInProgress, path: str, n_ctx: int, sampling: p.SamplingParams
    ) -> None:
        """The answer to "Summarise <file>": the whole file read in parts on the engine queue."""
        message_id = answer.message.id
        self.waiting.emit(answer.message, docs.summary_waiting_sentence(path))
        work = docs.summary_work(
            path,
            n_ctx,
            sampling,
            on_progress=lambda text: self.call_soon(self._on_waiting_text, message_id, text),
            on_tokens=lambda text: self.call_soon(self._on_tokens, message_id, text),
            on_read=lambda extra, notes: self.call_soon(self._got_extra, message_id, extra, notes),
        )
        self._submit(answer, work, "summary")

    def _answer_for(self, message_id: int) -> AnswerInProgress | None:
        """The answer being written, if it is still this one (a late callback finds None)."""
        answer = self._answer
        return answer if answer is not None and answer.message.id == message_id else None

    def _on_waiting_text(self, message_id: int, text: str) -> None:
        answer = self._answer_for(message_id)
        if answer is not None and not answer.pieces:
            self.waiting.emit(answer.message, text)

    def _got_extra(self, message_id: int, extra: dict[str, Any], notes: tuple[str, ...]) -> None:
        answer = self._answer_for(message_id)
        if answer is None:
            return
        answer.extra.update(extra)
        for note in notes:
            self.notice.emit(docs.unread_sentence(note), "info")

    def _embedder(self, engine: Engine) -> Any:
        """The embedder for the documents step (on the engine thread, as the engine's own)."""
        return self.embedder_factory(engine) if self.embedder_factory is not None else self.service.local

    def _got_passages(self, message_id: int, passages: docs.Passages) -> None:
        answer = self._answer_for(message_id)
        if answer is None:
            return
        answer.sources = passages.sources
        answer.extra.update(passages.extra_stats())
        if passages.note:
            self.notice.emit(passages.note, "info")
        self.waiting.emit(answer.message, passages.waiting_sentence())

    def _on_tokens(self, message_id: int, text: str) -> None:
        answer = self._answer_for(message_id)
        if answer is None:
            return
        answer.pieces.append(text)
        self.answer_tokens.emit(answer.message, text)
        now = time.monotonic()
        if now - answer.last_save >= SAVE_INTERVAL_S:
            self._save_progress(answer)
            answer.last_save = now

    def _save_progress(self, answer: AnswerInProgress) -> None:
        piece = "".join(answer.pieces[answer.saved_pieces :])
        try:
            self.store.append_draft(answer.message.id, piece)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            # The answer goes on on screen; said once, tried again at the next save.
            if answer.message.id != self._unsaved_answer_id:
                self._said_disk_full(exc)
                self._unsaved_answer_id = answer.message.id
            return
        answer.saved_pieces = len(answer.pieces)

    def _on_answer_done(self, message_id: int, future: Future[tuple[str, ClientChatStats]]) -> None:
        answer = self._answer_for(message_id)
        if answer is None:
            return
        text, status, stats, failure = finished_answer(answer, future)
        if failure is not None and not isinstance(failure, (EngineError, PlainError)):
            log.error("answer failed", exc_info=failure)  # a bug: the text is kept, and said
        try:
            self.store.finish_message(message_id, text, status, stats)
        except Exception as exc:  # a full disk: the part saved so far comes back as interrupted
            if not is_disk_full(exc):
                raise
            if message_id != self._unsaved_answer_id:
                self._said_disk_full(exc)
        message = dataclasses.replace(answer.message, content=text, status=status, stats=stats)
        self._answer = None
        self.busy_changed.emit(False)
        if message.conversation_id == self.conversation_id:
            self.answer_finished.emit(message)
        if failure is not None:
            if isinstance(failure, EngineCrashed):
                self.service.report_crash(failure)
            self.answer_failed.emit(message, failure)
        self.conversations_changed.emit()

    # ---- the context budget -------------------------------------------------------------
    def context_budget(self, draft: str = "") -> ContextBudget | None:
        """Tokens the next answer's prompt will take and which old messages no longer fit;
        None when no model can answer."""
        n_ctx = self.service.n_ctx
        if not n_ctx:
            return None
        system_prompt, settings = self.chat_settings()
        sampling = chat_presets.conversation_sampling(settings, self.base_sampling)
        return measure_budget(
            self.thread(), draft, system_prompt, sampling, n_ctx, count=self.service.token_counter()
        )

    # ---- closing ------------------------------------------------------------------------
    def close(self) -> None:
        """The app closes: an answer still streaming keeps its text, marked as stopped."""
        answer = self._answer
        if answer is None:
            return
        self._answer = None
        if answer.job is not None:
            answer.job.cancel()
        self.store.finish_message(answer.message.id, answer.text, STATUS_CANCELLED, {})
