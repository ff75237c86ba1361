"""The main window: conversations on the left, the model strip and the chat on the right, and a
rail of pages beside them. This module builds the window, wires its parts together, and owns
start-up, drag and drop, and the saved window state; each other job is a mixin of its own (see
MainWindow's docstring)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMainWindow,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.cancel import CancelToken
from app.core.chat.store import STATUS_CANCELLED, ChatStore
from app.core.engine import protocol as p
from app.core.settings import Settings, load_settings
from app.ui.answer_streaming_mixin import AnswerStreamingMixin
from app.ui.chat_settings_mixin import ChatSettingsMixin
from app.ui.chat_view import ChatView, Composer
from app.ui.context_meter import ContextMeter
from app.ui.conversation_list import ConversationList
from app.ui.conversations_mixin import ConversationsMixin
from app.ui.documents_in_chat_mixin import DocumentsInChatMixin
from app.ui.engine_bridge import EngineBridge
from app.ui.message_widget import MessageWidget
from app.ui.model_bar import ModelBar
from app.ui.model_loading_mixin import ModelLoadingMixin
from app.ui.notice_bar import NoticeBar
from app.ui.page_rail import PageRail
from app.ui.tasks import ProgressFn, run_task

log = logging.getLogger("enclave.ui.window")

METER_DELAY_MS = 300  # the context meter follows typing this long after the last key


def _window_state() -> QSettings:
    """Window size and splitters: an INI file in our config folder (not the registry/plist)."""
    from app.core import paths

    return QSettings(str(paths.config_dir() / "window.ini"), QSettings.Format.IniFormat)


class MainWindow(
    ChatSettingsMixin,
    ModelLoadingMixin,
    ConversationsMixin,
    AnswerStreamingMixin,
    DocumentsInChatMixin,
    QMainWindow,
):
    """Builds the window and wires its parts; each job lives in its own mixin module:
    chat_settings_mixin (drawer, context meter), model_loading_mixin (open, load, unload),
    conversations_mixin (new, open, delete, show a thread and its versions),
    answer_streaming_mixin (send, stream, save, stop, edit and regenerate),
    documents_in_chat_mixin (collection picker, passages for an answer, sources under it)."""

    shown = Signal()  # first time the window is on screen (start-time measurements)

    def __init__(self, store: ChatStore | None = None, bridge: EngineBridge | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Enclave")
        self.setAcceptDrops(True)
        self.settings: Settings = load_settings()
        self.store = store or ChatStore()
        self.bridge = bridge or EngineBridge(parent=self)
        self.hardware: Any = None
        self.facts: Any = None
        self.plan: Any = None
        self.model_path: Path | None = None
        self.conversation_id: int | None = None
        self.streaming: MessageWidget | None = None
        self._stop_requested = False
        self.sampling = p.SamplingParams()  # app defaults; a conversation's settings override them
        # A new chat's settings until its first message creates the conversation.
        self.pending_chat: dict[str, Any] = self._new_chat_defaults()
        self.settings_panel: Any = None  # ConversationSettingsPanel, built when first opened
        self._load_request: tuple[int, str] = (0, "")  # (wanted context, chat format) being loaded
        self._loaded_request: tuple[int, str] | None = None  # ...and what the loaded model got
        self._loaded_format = ""
        self._last_saved = 0.0
        self._shown_once = False
        self._closed = False
        self._build()
        from app.ui.pages import install_pages

        install_pages(self)
        self._install_documents_in_chat()
        self._connect()
        self._restore_geometry()
        self.store.purge_deleted()  # soft deletes whose Undo a crash cut short
        self.refresh_conversations()
        self._update_composer()

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
        self._chat_row = QHBoxLayout()
        self._chat_row.setSpacing(0)
        chat_column = QVBoxLayout()
        chat_column.setSpacing(0)
        chat_column.addWidget(self.chat_view, 1)
        chat_column.addWidget(self.composer)
        chat_column.addWidget(self.context_meter)
        self._chat_row.addLayout(chat_column, 1)
        right_layout.addLayout(self._chat_row, 1)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("chatSettingsButton")
        self.settings_button.setText("⚙ Chat settings")
        self.settings_button.setToolTip("Preset, instructions and answer settings for this chat")
        self.settings_button.setCheckable(True)
        bar_row = cast(QHBoxLayout, self.model_bar.layout().itemAt(0).layout())  # type: ignore[union-attr]
        bar_row.insertWidget(bar_row.indexOf(self.model_bar.details_button), self.settings_button)
        self._meter_timer = QTimer(self)
        self._meter_timer.setSingleShot(True)
        self._meter_timer.setInterval(METER_DELAY_MS)
        self._meter_timer.timeout.connect(self._update_meter)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 760])

        # Left: a rail of pages (Chat, and the pages other areas add with add_page).
        self.page_rail = PageRail()
        self.page_rail.add_page("chat", "Chat", self.splitter)
        self.setCentralWidget(self.page_rail)
        self.statusBar().showMessage("Ready")
        self.resize(1100, 760)

    def add_page(self, key: str, title: str, widget: QWidget) -> None:
        """Add a page to the rail; pages are built lazily by their owners (see app/ui/pages)."""
        self.page_rail.add_page(key, title, widget)

    def show_page(self, key: str) -> None:
        self.page_rail.show_page(key)

    def current_page(self) -> str:
        return self.page_rail.current_page()

    # ---- wiring: signals between the parts, and keyboard shortcuts ----------------------
    def _connect(self) -> None:
        bar, bridge = self.model_bar, self.bridge
        bar.openRequested.connect(self.choose_model_file)
        bar.loadRequested.connect(self._load_opened_model)
        bar.cancelRequested.connect(bridge.cancel)
        bar.unloadRequested.connect(self.unload_model)
        bridge.loadProgress.connect(bar.set_progress)
        bridge.loaded.connect(self._on_loaded)
        bridge.loadFailed.connect(self._on_load_failed)
        bridge.loadCancelled.connect(self._on_load_cancelled)
        bridge.tokens.connect(self._on_tokens)
        bridge.answerDone.connect(self._on_answer_done)
        bridge.answerFailed.connect(self._on_answer_failed)
        bridge.answerCancelled.connect(self._on_answer_cancelled_before_start)
        self.composer.submitted.connect(self.send)
        self.composer.stopRequested.connect(self.stop)
        self.composer.edit.textChanged.connect(self._schedule_meter)
        self.settings_button.toggled.connect(self.show_chat_settings)
        self.sidebar.newChatRequested.connect(self.new_chat)
        self.sidebar.conversationSelected.connect(self.open_conversation)
        self.sidebar.conversationDeleted.connect(self._on_conversation_deleted)
        self.sidebar.conversationsChanged.connect(self.refresh_conversations)
        self.sidebar.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.chat_view.editSubmitted.connect(self.edit_and_resend)
        self.chat_view.regenerateRequested.connect(self.regenerate)
        self.chat_view.versionRequested.connect(self.switch_version)
        shortcuts: list[tuple[QKeySequence, Any]] = [
            (QKeySequence("Ctrl+K"), self.sidebar.focus_search),
            (QKeySequence(Qt.Key.Key_Escape), self.stop),
            (QKeySequence(QKeySequence.StandardKey.New), self.new_chat),
            (QKeySequence(QKeySequence.StandardKey.Open), self.choose_model_file),
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

    def _show_newest_conversation(self) -> None:
        if not self._closed:
            self.refresh_conversations(select_newest=True)

    def _warm_up(self) -> None:
        def detect(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.hardware import detect_hardware

            return detect_hardware()

        def warm_markdown(_progress: ProgressFn, _cancel: CancelToken) -> None:
            # The first answer's Markdown would otherwise import markdown-it and pygments' lexers
            # on the GUI thread right as it finishes (~80 ms stall); do it now, off that thread.
            from app.ui.markdown_render import render_markdown

            render_markdown("**warm** `up`\n\n```python\nprint(1)\n```\n\n| a |\n|---|\n| 1 |")

        run_task(detect, name="hardware", on_result=self._set_hardware)
        run_task(warm_markdown, name="warm-markdown")
        self.bridge.prewarm()

    def _set_hardware(self, hardware: Any) -> None:
        self.hardware = hardware

    # ---- drag and drop: a dropped .gguf opens (loading it is ModelLoadingMixin's job) ---
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(u.toLocalFile().lower().endswith(".gguf") for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.toLocalFile().lower().endswith(".gguf"):
                event.acceptProposedAction()
                self.open_model(Path(url.toLocalFile()))
                return

    # ---- window state -------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        qsettings = _window_state()
        geometry = qsettings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = qsettings.value("window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self._closed = True
        self._flush_chat_settings()
        qsettings = _window_state()
        qsettings.setValue("window/geometry", self.saveGeometry())
        qsettings.setValue("window/splitter", self.splitter.saveState())
        self.sidebar.finish_pending_delete()
        if self.streaming is not None:
            self.store.update_message(
                self.streaming.message.id, content=self.streaming.text, status=STATUS_CANCELLED
            )
            self.streaming = None
        self.bridge.shutdown()
        self.store.close()
        super().closeEvent(event)
