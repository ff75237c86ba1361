"""Documents in the chat: the collection picker beside the composer, bound to the session's
choice of collections, and the numbered sources under answers that used them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.chat.session import ChatSession
from app.ui.chat_view import ChatView, Composer
from app.ui.message_widget import MessageWidget
from app.ui.notice_bar import NoticeBar


def documents_embedder(settings_store: Any, service: Any) -> Callable[[Any], Any]:
    """The session's embedder factory: the bundled model in the local engine host, or the
    server's embeddings when the user chose that in Settings (numpy is imported on first use,
    not while the window opens)."""

    def make(engine: Any) -> Any:
        from app.core.documents.remote_embedder import embedder_for_settings

        return embedder_for_settings(settings_store.current, engine, local=service.local)

    return make


class DocumentsInChat:
    def __init__(
        self,
        session: ChatSession,
        composer: Composer,
        chat_view: ChatView,
        notice: NoticeBar,
        show_documents_page: Callable[[], None],
        documents_page: Any,
    ) -> None:
        """documents_page: the Documents page (announces its collections), or None."""
        from app.ui.pages.collection_picker import CollectionPicker  # imported late: start-up time

        self.session = session
        self.notice = notice
        self.picker = CollectionPicker(None)  # the session keeps each conversation's choice
        self.picker.manageRequested.connect(show_documents_page)
        if documents_page is not None:
            documents_page.collectionsChanged.connect(self.picker.set_available)
        self.picker.refresh()
        composer.tools.addWidget(self.picker)
        composer.tools.addStretch(1)
        chat_view.decorate = self.add_sources
        # The picker shows the session's choice; a click in it changes the session's.
        self.picker.collectionsChanged.connect(session.set_collections)
        session.collections_changed.connect(self.picker.show_selected)

    def add_sources(self, widget: MessageWidget) -> None:
        sources = widget.message.stats.get("sources") if widget.message.role == "assistant" else None
        if sources:
            from app.ui.pages.citations import CitationsView, cannot_open_text

            message = widget.message
            view = CitationsView(
                sources,
                widget.text,
                can_use_more=self.session.can_use_more_passages(message),
                can_summarise=True,
            )
            view.moreRequested.connect(lambda: self.session.more_passages(message))
            view.summariseRequested.connect(self.session.summarise_document)
            view.missing.connect(lambda source: self.notice.show_message(cannot_open_text(source), "warning"))
            view.unopenable.connect(
                lambda source: self.notice.show_message(cannot_open_text(source), "warning")
            )
            widget.extra.addWidget(view)
