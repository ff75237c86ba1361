"""The main window: conversations on the left, the model strip and the chat on the right, and a
rail of pages beside them.

This module only builds the views and binds them to the core objects that own the state: the
ChatSession (the conversation on screen: app/core/chat/session.py), the EngineService (which
engine answers, what is loaded: app/core/engine/service.py) and the SettingsStore. The binding
code lives in presenters, one per job: chat_presenter (thread, composer, sidebar),
model_presenter (model strip), chat_settings_presenter (drawer, context meter) and
documents_in_chat (collections picker, sources)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QMainWindow, QSplitter, QToolButton, QVBoxLayout, QWidget

from app.core.api.controller import ApiController
from app.core.cancel import CancelToken
from app.core.chat.session import ChatSession
from app.core.chat.store import ChatStore
from app.core.engine.service import EngineService
from app.core.i18n import translate
from app.core.settings import Settings, SettingsStore
from app.ui.api_badge import ApiBadge
from app.ui.chat_presenter import ChatPresenter
from app.ui.chat_settings_presenter import ChatSettingsPresenter
from app.ui.chat_view import ChatView, Composer
from app.ui.context_meter import ContextMeter
from app.ui.conversation_list import ConversationList
from app.ui.dispatch import gui_call_soon, install_gui_calls
from app.ui.documents_in_chat import DocumentsInChat, documents_embedder
from app.ui.model_bar import ModelBar
from app.ui.model_presenter import ModelPresenter
from app.ui.narrow_window import NarrowWindow
from app.ui.notice_bar import NoticeBar
from app.ui.observe import disconnect_all
from app.ui.page_rail import PageRail
from app.ui.tasks import ProgressFn, run_task
from app.ui.window_state import restore_window_state, save_window_state

log = logging.getLogger("enclave.ui.window")


class MainWindow(QMainWindow):
    shown = Signal()  # first time the window is on screen (start-time measurements)
    models_area: Any  # Discover, Library and Settings: set by app/ui/pages/models.py

    def __init__(
        self,
        store: ChatStore | None = None,
        service: EngineService | None = None,
        settings_store: SettingsStore | None = None,
    ) -> None:
        super().__init__()
        install_gui_calls()
        self.setWindowTitle("Enclave")
        self.setAcceptDrops(True)
        self.settings_store = settings_store or SettingsStore()
        from app.core.net.gate import gate

        gate().attach(self.settings_store)  # offline mode closes the network gate at once
        self.store = store or ChatStore()
        self.service = service or EngineService(call_soon=gui_call_soon)
        self.session = ChatSession(
            self.store,
            self.service,
            call_soon=gui_call_soon,
            # Documents embed with the bundled model here, or through the server if so chosen.
            embedder_factory=documents_embedder(self.settings_store, self.service),
            embedding_model=lambda: self.settings.embedding_model,
        )
        # The local API (Settings -> Other programs), kept as Settings say from the start.
        self.api = ApiController(self.settings_store, self.service, call_soon=gui_call_soon)
        self._shown_once = False
        self._closed = False
        self._build()
        from app.ui.pages import install_pages
        from app.ui.pages.documents import documents_page

        install_pages(self)
        self._bind(documents_page(self))
        restore_window_state(self, self.splitter)
        self.store.purge_deleted()  # soft deletes whose Undo a crash cut short
        self.chat.refresh_list()
        self.chat.update_composer()
        from app.ui.policy_view import show_policy_problems

        show_policy_problems(self.notice, lambda: self.show_page("settings"))

    # ---- what pages and tests reach -----------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.settings_store.current

    @property
    def hardware(self) -> Any:
        return self.service.hardware

    @hardware.setter
    def hardware(self, value: Any) -> None:
        self.service.hardware = value

    @property
    def model_path(self) -> Path | None:
        return self.service.model_path

    def open_model(self, path: Path) -> None:
        self.models.open_model(Path(path))

    def get_recommended_model(self) -> None:
        """The newcomer's way in: Discover, downloading the model that suits this computer."""
        self.show_page("discover")
        discover = self.models_area.discover
        discover.show_home()
        discover.home.get_recommended()

    def add_page(self, key: str, title: str, widget: QWidget) -> None:
        """Add a page to the rail; pages are built lazily by their owners (see app/ui/pages)."""
        self.page_rail.add_page(key, title, widget)

    def show_page(self, key: str) -> None:
        self.page_rail.show_page(key)

    def current_page(self) -> str:
        return self.page_rail.current_page()

    # ---- construction -------------------------------------------------------------------
    def _build(self) -> None:
        self.sidebar = ConversationList(store=self.store)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        self.model_bar = ModelBar()
        self.notice = NoticeBar()
        self.chat_view = ChatView()
        self.composer = Composer()
        self.context_meter = ContextMeter()
        self.context_meter.hide()
        right_layout.addWidget(self.model_bar)
        right_layout.addWidget(self.notice)
        # The chat column, and the chat settings drawer beside it (built when first opened).
        self.chat_row = QHBoxLayout()
        self.chat_row.setSpacing(0)
        chat_column = QVBoxLayout()
        chat_column.setSpacing(0)
        chat_column.addWidget(self.chat_view, 1)
        chat_column.addWidget(self.composer)
        chat_column.addWidget(self.context_meter)
        self.chat_row.addLayout(chat_column, 1)
        right_layout.addLayout(self.chat_row, 1)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("chatSettingsButton")
        self.settings_button.setText(translate("main_window", "⚙ Chat settings"))
        self.settings_button.setToolTip(
            translate("main_window", "Preset, instructions and answer settings for this chat")
        )
        self.settings_button.setCheckable(True)
        bar_row = cast(QHBoxLayout, self.model_bar.layout().itemAt(0).layout())  # type: ignore[union-attr]
        bar_row.insertWidget(bar_row.indexOf(self.model_bar.details_button), self.settings_button)
        # "API: 1 answering, 3 waiting" while other programs use the model (hidden when idle).
        self.api_badge = ApiBadge(self.service.queue)
        bar_row.insertWidget(bar_row.indexOf(self.settings_button), self.api_badge)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 760])
        # Left: a rail of pages (Chat, and the pages other areas add with add_page).
        self.page_rail = PageRail()
        self.page_rail.add_page("chat", translate("main_window", "Chat"), self.splitter)
        self.setCentralWidget(self.page_rail)
        self.statusBar().showMessage(translate("main_window", "Ready"))
        self.resize(1100, 760)

    def _bind(self, documents_page: Any) -> None:
        session, service = self.session, self.service
        self.chat_settings = ChatSettingsPresenter(
            session,
            service,
            self.settings_store,
            self.chat_row,
            self.settings_button,
            self.context_meter,
            self.composer,
            self.chat_view,
            self.notice,
            reload_model=lambda: self.models.reload(),
        )
        # A small window with the drawer open: the conversation list steps aside.
        self.narrow = NarrowWindow(self.splitter, self.sidebar)
        self.settings_button.toggled.connect(
            lambda on: self.narrow.set_drawer_open(on, self.chat_settings.panel)
        )
        self.models = ModelPresenter(
            service,
            self.settings_store,
            self.model_bar,
            self.notice,
            self.statusBar(),
            self,
            wanted_context=self.chat_settings.wanted_context,
            is_answering=lambda: session.busy,
        )
        self.chat = ChatPresenter(
            session,
            service,
            self.chat_view,
            self.composer,
            self.sidebar,
            self.notice,
            self.statusBar(),
            reload_model=self.models.reload,
            on_thread_shown=self.chat_settings.schedule_meter,
            before_action=self.chat_settings.flush,
        )
        self.documents_in_chat = DocumentsInChat(
            session,
            self.composer,
            self.chat_view,
            self.notice,
            show_documents_page=lambda: self.show_page("documents"),
            documents_page=documents_page,
        )
        self.chat_view.startRequested.connect(self.get_recommended_model)
        shortcuts: list[tuple[QKeySequence, Any]] = [
            (QKeySequence("Ctrl+K"), self.sidebar.focus_search),
            (QKeySequence(Qt.Key.Key_Escape), session.stop),
            (QKeySequence(QKeySequence.StandardKey.New), self.chat.new_chat),
            (QKeySequence(QKeySequence.StandardKey.Open), self.models.choose_model_file),
            (QKeySequence("Ctrl+Q"), self.close),
        ]
        for keys, action in shortcuts:
            QShortcut(keys, self).activated.connect(action)

    # ---- start-up: the slow parts wait for the first paint ------------------------------
    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.shown.emit()
            # The newest conversation appears right after the first paint (rendering Markdown
            # and code highlighting would otherwise delay the window itself).
            QTimer.singleShot(0, self._show_newest_conversation)
            # After the first paint: detect hardware and start the engine host in the background.
            QTimer.singleShot(200, self._warm_up)
            # And the first message widget's one-time cost, before the first question.
            QTimer.singleShot(700, self._warm_up_chat_view)

    def _show_newest_conversation(self) -> None:
        if not self._closed:
            self.session.open_newest()

    def _warm_up_chat_view(self) -> None:
        if not self._closed:
            self.chat_view.warm_up()

    def _warm_up(self) -> None:
        if self._closed:
            return

        def detect(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.hardware import detect_hardware

            return detect_hardware()

        def warm_markdown(_progress: ProgressFn, _cancel: CancelToken) -> None:  # and speed
            # The first answer's Markdown would otherwise import markdown-it and pygments' lexers
            # on the GUI thread right as it finishes (~80 ms stall); do it now, off that thread.
            from app.ui.markdown_render import render_markdown

            render_markdown("**warm** `up`\n\n```python\nprint(1)\n```\n\n| a |\n|---|\n| 1 |")
            # The speed record after each answer (speed/record.py, on a worker thread) imported
            # the speed model there, ~25 ms of imports holding the GIL against the GUI thread
            # as the answer ended (bench_gui_stall.py): import it now instead.
            import app.core.speed.predict
            import app.core.speed.profile_cache
            import app.core.speed.record  # noqa: F401

        def set_hardware(hardware: Any) -> None:
            if self.service.hardware is None:
                self.service.hardware = hardware

        # The last model is planned for this computer once its hardware is known (not detected
        # twice at once); it loads with or without that (a failed detection plans for the CPU).
        run_task(detect, name="hardware", on_result=set_hardware, on_finished=self.models.restore_last_engine)
        run_task(warm_markdown, name="warm-markdown")
        self.service.prewarm()
        self.api.start_if_enabled()

    # ---- drag and drop: a dropped .gguf opens -------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(u.toLocalFile().lower().endswith(".gguf") for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.toLocalFile().lower().endswith(".gguf"):
                event.acceptProposedAction()
                self.open_model(Path(url.toLocalFile()))
                return

    # ---- closing: nothing is lost -------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self._closed = True
        self.chat_settings.closed = True
        self.chat_settings.flush()
        self.narrow.unfold()  # the layout is saved with the conversation list in it
        save_window_state(self, self.splitter)
        self.sidebar.finish_pending_delete()
        # Nobody draws any more: answers and engine events still on their way go nowhere.
        for owner in (self.session, self.service, self.service.queue, self.settings_store, self.api):
            disconnect_all(owner)
        self.chat.close()
        self.session.close()
        self.api.close()
        self.service.shutdown()
        self.store.close()
        super().closeEvent(event)
