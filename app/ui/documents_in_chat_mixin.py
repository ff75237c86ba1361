"""Answers from the user's documents: the part of MainWindow that puts the collection picker
beside the composer, finds passages in the chosen collections before an answer, and shows the
numbered sources under an answer that used them. Split out of main_window.py by job;
MainWindow inherits it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core.cancel import CancelToken
from app.core.chat.store import STATUS_ERROR, ChatStore, Message
from app.core.engine import protocol as p
from app.core.settings import Settings
from app.ui.chat_view import ChatView, Composer
from app.ui.engine_bridge import EngineBridge
from app.ui.message_widget import MessageWidget
from app.ui.notice_bar import NoticeBar
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    # mypy sees the QMainWindow that MainWindow brings (statusBar); at run time a plain mixin.
    from PySide6.QtWidgets import QMainWindow as _WindowBase

    from app.ui.pages.collection_picker import CollectionPicker  # imported lazily (start-up time)
else:
    _WindowBase = object


class DocumentsInChatMixin(_WindowBase):
    # Provided by MainWindow (declared here so the dependencies are explicit).
    store: ChatStore
    bridge: EngineBridge
    settings: Settings
    chat_view: ChatView
    composer: Composer
    notice: NoticeBar
    _stop_requested: bool
    # Set up here (by _install_documents_in_chat):
    collection_picker: CollectionPicker
    _doc_sources: list[dict[str, Any]]  # the sources the answer being written was given

    if TYPE_CHECKING:  # from the other parts of MainWindow

        def show_page(self, key: str) -> None: ...
        def _on_answer_cancelled_before_start(self) -> None: ...
        def _on_answer_failed(self, exc: Exception) -> None: ...

    def _install_documents_in_chat(self) -> None:
        """The collection picker beside the composer, and sources under answers that used them."""
        from app.ui.pages.collection_picker import CollectionPicker
        from app.ui.pages.documents import documents_page

        self.collection_picker = CollectionPicker(self.store)
        self.collection_picker.manageRequested.connect(lambda: self.show_page("documents"))
        page = documents_page(self)
        if page is not None:
            page.collectionsChanged.connect(self.collection_picker.set_available)
        self.collection_picker.refresh()
        self.composer.tools.addWidget(self.collection_picker)
        self.composer.tools.addStretch(1)
        self._doc_sources = []
        self.chat_view.decorate = self._add_sources

    def _answer_from_documents(
        self,
        history: list[Message],
        system_prompt: str,
        collections: list[str],
        sampling: p.SamplingParams,
        n_ctx: int,
        cache_key: str,
    ) -> None:
        """Find passages for the last question, then stream the answer from a prompt built around
        them. The search runs on the engine pool: embedding the question needs the engine host,
        which serves one request at a time."""
        question = history[-1].content
        earlier = [
            {"role": m.role, "content": m.content}
            for m in history[:-1]
            if m.status != STATUS_ERROR and m.content.strip()
        ]
        answer_tokens = min(sampling.max_tokens, n_ctx // 4)
        embedding_model = self.settings.embedding_model or None

        def prepare(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.documents.chat_context import prepare_document_messages

            return prepare_document_messages(
                self.bridge.client,
                question,
                earlier,
                collections,
                n_ctx,
                answer_tokens,
                system_prompt,
                embedding_model=embedding_model,
            )

        def ready(document_prompt: Any) -> None:
            self._doc_sources = [source.to_dict() for source in document_prompt.sources]
            if document_prompt.note:
                self.notice.show_message(document_prompt.note, "info")
            if self._stop_requested:
                self._on_answer_cancelled_before_start()
                return
            self.bridge.chat(document_prompt.messages, sampling, cache_key=cache_key)

        self.statusBar().showMessage("Looking through your documents…", 3000)
        run_task(
            prepare,
            name="documents-context",
            pool_name="engine",
            on_result=ready,
            on_error=self._on_answer_failed,
        )

    def _add_sources(self, widget: MessageWidget) -> None:
        sources = widget.message.stats.get("sources") if widget.message.role == "assistant" else None
        if sources:
            from app.ui.pages.citations import CitationsView

            view = CitationsView(sources, widget.text)
            view.missing.connect(
                lambda source: self.notice.show_message(
                    f"{source.label}: the file is no longer there (moved or deleted?).", "warning"
                )
            )
            widget.extra.addWidget(view)
