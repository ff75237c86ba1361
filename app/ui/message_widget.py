"""One message of the conversation: its text (Markdown for answers), the stats line under an
answer, and its actions: Copy, Edit (your messages), Regenerate (answers), and "< 1/2 >" to
browse earlier versions of an edited or regenerated turn."""

from __future__ import annotations

import html
from typing import cast

from PySide6.QtCore import QSizeF, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QTextCursor, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.store import (
    STATUS_CANCELLED,
    STATUS_ERROR,
    STATUS_INTERRUPTED,
    STATUS_STREAMING,
    Message,
)
from app.core.engine.base import LOCAL_PLACE
from app.core.i18n import translate, translate_noop
from app.core.model_names import display_name
from app.ui.markdown_render import finished_length

ROLE_TITLES = {
    "user": translate_noop("message_widget", "You"),
    "assistant": translate_noop("message_widget", "Assistant"),
    "system": translate_noop("message_widget", "System"),
}
STATUS_NOTES = {
    STATUS_INTERRUPTED: translate_noop(
        "message_widget", "Interrupted: the engine stopped before this answer was finished."
    ),
    STATUS_CANCELLED: translate_noop("message_widget", "Stopped."),
    STATUS_ERROR: translate_noop("message_widget", "Failed."),
}
COPIED_FOR_MS = 1500
CUT_AT_LIMIT = translate_noop(
    "message_widget", "Cut off: the answer reached its length limit. Ask “go on” for the rest."
)


def stats_line(stats: dict[str, object]) -> str:
    """'Speed: about 31 words a second · first word after 0.1 s · SmolLM2 135M Instruct · on
    this computer': how the answer was made, in plain words (stats_details has the figures)."""
    from app.core.plain_words import seconds_text, speed_text

    parts: list[str] = []
    rate = stats.get("tokens_per_s")
    if isinstance(rate, (int, float)) and rate > 0:
        parts.append(translate("message_widget", "Speed: {speed}").format(speed=speed_text(rate)))
    ttft = stats.get("time_to_first_token_s")
    if isinstance(ttft, (int, float)):
        parts.append(translate("message_widget", "first word after {time}").format(time=seconds_text(ttft)))
    model = stats.get("model")
    if isinstance(model, str) and model:
        parts.append(display_name(model) if model.lower().endswith(".gguf") else model)
    source = stats.get("source")
    if isinstance(source, str) and source:
        # Where the answer was made: the user's words went there.
        parts.append(
            translate("message_widget", "on this computer")
            if source == LOCAL_PLACE
            else translate("message_widget", "from the server {server}").format(server=source)
        )
    return " · ".join(parts)


def stats_details(stats: dict[str, object]) -> str:
    """The figures behind stats_line, for its tooltip (the same line an export writes):
    '120 tokens · 41.2 tokens/s · first token 72 ms · SmolLM2-135M-Instruct.Q4_1.gguf'."""
    from app.core.chat.export import stats_line as figures

    line = figures(dict(stats))
    return (
        translate("message_widget", "{figures} (a token is about ¾ of a word)").format(figures=line)
        if line
        else ""
    )


def is_dark_palette() -> bool:
    return QGuiApplication.palette().window().color().lightness() < 128


class MessageText(QTextBrowser):
    """Read-only rich text that is exactly as tall as its content (no inner scroll bar).

    Streaming appends go through a QTextCursor at the end: QTextDocument lays out only the last
    block again, where QLabel.setText would lay out the whole answer on every batch.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBody")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)
        # A long line of code or a long link wraps too: nothing is cut at the right edge.
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.document().setDocumentMargin(0)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("background: transparent;")
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height(self.document().size())

    def _fit_height(self, size: QSizeF) -> None:
        height = int(size.height() + 0.999) + 2
        if height != self.height():
            self.setFixedHeight(height)

    def append_plain(self, text: str) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)


def _small_button(text: str, tooltip: str) -> QToolButton:
    button = QToolButton()
    button.setObjectName("messageAction")
    button.setText(text)
    button.setToolTip(tooltip)
    if not any(c.isalnum() for c in text):  # "‹" would be read as "left angle quotation mark"
        button.setAccessibleName(tooltip)
    button.setAutoRaise(True)
    return button


class MessageWidget(QFrame):
    editSubmitted = Signal(object, str)  # Message, the new text
    regenerateRequested = Signal(object)  # Message (an answer)
    versionRequested = Signal(object, int)  # Message, -1 or +1
    linkActivated = Signal(object, QUrl)  # Message, a link that is not a code-copy link
    editingStarted = Signal(object)  # this widget: its editor opened (the view scrolls to it)

    def __init__(
        self, message: Message, versions: tuple[int, int] = (1, 1), parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.message = message
        self.versions = versions  # (this one's number, how many)
        self.code_blocks: list[str] = []
        self.setObjectName("message")
        self.setProperty("role", message.role)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 8)
        layout.setSpacing(4)
        self.role_label = QLabel(
            translate("message_widget", ROLE_TITLES[message.role])
            if message.role in ROLE_TITLES
            else message.role
        )
        self.role_label.setObjectName("messageRole")
        layout.addWidget(self.role_label)
        self.body = MessageText()
        self.body.anchorClicked.connect(self._on_link)
        layout.addWidget(self.body)
        self.editor: QPlainTextEdit | None = None
        self.extra = QVBoxLayout()  # sources and other additions under the text
        self.extra.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.extra)
        footer_row = QHBoxLayout()
        footer_row.setSpacing(2)
        self.footer = QLabel()
        self.footer.setObjectName("messageFooter")
        self.footer.setWordWrap(True)
        footer_row.addWidget(self.footer, 1)
        self.previous_button = _small_button("‹", translate("message_widget", "Earlier version"))
        self.version_label = QLabel()
        self.version_label.setObjectName("messageFooter")
        self.next_button = _small_button("›", translate("message_widget", "Later version"))
        self.previous_button.clicked.connect(lambda: self.versionRequested.emit(self.message, -1))
        self.next_button.clicked.connect(lambda: self.versionRequested.emit(self.message, +1))
        self.copy_button = _small_button(
            translate("message_widget", "Copy"), translate("message_widget", "Copy this message")
        )
        self.copy_button.clicked.connect(self.copy_text)
        self.edit_button = _small_button(
            translate("message_widget", "Edit"),
            translate("message_widget", "Edit this message and send it again"),
        )
        self.edit_button.clicked.connect(self.start_editing)
        self.regenerate_button = _small_button(
            translate("message_widget", "Regenerate"), translate("message_widget", "Write this answer again")
        )
        self.regenerate_button.clicked.connect(lambda: self.regenerateRequested.emit(self.message))
        for widget in (
            self.previous_button,
            self.version_label,
            self.next_button,
            self.copy_button,
            self.edit_button,
            self.regenerate_button,
        ):
            footer_row.addWidget(widget)
        layout.addLayout(footer_row)
        self.footer_row = footer_row
        self.forgotten_marker: QLabel | None = None  # "Not in the model's memory", made on need
        self._text = message.content
        self._waiting_text = "…"
        self._rendered_upto = 0  # streaming: the finished Markdown blocks already rendered
        self._rendered_html = ""
        self.refresh()

    @property
    def text(self) -> str:
        return self._text

    # ---- streaming ----------------------------------------------------------------------
    def set_waiting_text(self, text: str) -> None:
        """What the answer waits for, shown until its first words arrive."""
        self._waiting_text = text
        if not self._text and self.message.status == STATUS_STREAMING:
            self.body.setPlainText(text)

    def append(self, text: str) -> None:
        """More of a streaming answer. Whole Markdown blocks are shown formatted as soon as they
        are finished (each block rendered once); the unfinished rest is plain text, appended at
        the end, so half-written Markdown never flickers."""
        if not self._text:
            self.body.setPlainText("")
        self._text += text
        # Only the text after the last rendered block can finish a new one (never inside a fence).
        finished = (
            self._rendered_upto + finished_length(self._text[self._rendered_upto :])
            if self.message.role == "assistant"
            else 0
        )
        if finished <= self._rendered_upto:
            self.body.append_plain(text)
            return
        from app.ui.markdown_render import render_markdown

        part, blocks = render_markdown(
            self._text[self._rendered_upto : finished],
            dark=is_dark_palette(),
            first_block=len(self.code_blocks),
        )
        self._rendered_html += part
        self.code_blocks.extend(blocks)
        self._rendered_upto = finished
        tail = html.escape(self._text[finished:])
        self.body.setHtml(
            self._rendered_html + (f'<p style="white-space: pre-wrap;">{tail}</p>' if tail else "")
        )

    def finish(self, status: str, stats: dict[str, object] | None = None) -> None:
        self.message.status = status
        self.message.content = self._text
        if stats is not None:
            self.message.stats = dict(stats)
        self.refresh()
        if self.message.role == "assistant":
            from app.ui.accessibility import announce

            # Read out once, when it is finished (never word by word while it streams).
            note = translate("message_widget", STATUS_NOTES[status]) if status in STATUS_NOTES else ""
            said = (
                translate("message_widget", "Answer: {answer}").format(answer=self._text)
                if self._text
                else ""
            )
            announce(self, " ".join(x for x in (said, note) if x))

    # ---- display ------------------------------------------------------------------------
    def refresh(self) -> None:
        status = self.message.status
        streaming = status == STATUS_STREAMING
        if self.message.role == "assistant" and not streaming and self._text:
            from app.ui.markdown_render import render_markdown

            html, self.code_blocks = render_markdown(self._text, dark=is_dark_palette())
            self.body.setHtml(html)
        else:
            self.body.setPlainText(self._text if self._text else (self._waiting_text if streaming else ""))
        footer = stats_line(self.message.stats) if self.message.role == "assistant" else ""
        note = translate("message_widget", STATUS_NOTES[status]) if status in STATUS_NOTES else ""
        if not note and self.message.stats.get("finish_reason") == "length":
            note = translate("message_widget", CUT_AT_LIMIT)
        self.footer.setText(" — ".join(x for x in (footer, note) if x))
        self.footer.setToolTip(stats_details(self.message.stats) if self.message.role == "assistant" else "")
        number, count = self.versions
        has_versions = count > 1
        for widget in (self.previous_button, self.version_label, self.next_button):
            widget.setVisible(has_versions and not streaming)
        self.version_label.setText(
            translate("message_widget", "{number}/{count}").format(number=number, count=count)
        )
        self.previous_button.setEnabled(number > 1)
        self.next_button.setEnabled(number < count)
        self.copy_button.setVisible(not streaming and bool(self._text))
        self.edit_button.setVisible(self.message.role == "user" and not streaming)
        self.regenerate_button.setVisible(self.message.role == "assistant" and not streaming)

    def set_forgotten(self, forgotten: bool) -> None:
        """Mark a message the model no longer sees (left out to fit its context)."""
        marker = self.forgotten_marker
        if forgotten and marker is None:
            marker = QLabel(translate("message_widget", "Not in the model's memory"))
            marker.setObjectName("forgottenMarker")
            marker.setToolTip(
                translate(
                    "message_widget",
                    "This conversation is longer than the model's context: the oldest messages "
                    "are left out of what the model sees when it answers.",
                )
            )
            self.footer_row.insertWidget(0, marker)
            self.forgotten_marker = marker
        if marker is not None:
            marker.setVisible(forgotten)
        if bool(self.property("forgotten")) != forgotten:
            self.setProperty("forgotten", forgotten)
            self.style().unpolish(self)
            self.style().polish(self)

    def set_actions_enabled(self, enabled: bool) -> None:
        """Off while an answer streams: nothing may change the thread under it."""
        number, count = self.versions
        self.edit_button.setEnabled(enabled)
        self.regenerate_button.setEnabled(enabled)
        self.previous_button.setEnabled(enabled and number > 1)
        self.next_button.setEnabled(enabled and number < count)

    # ---- actions ------------------------------------------------------------------------
    def copy_text(self) -> None:
        QGuiApplication.clipboard().setText(self._text)
        # Say it worked: the button reads "Copied" for a moment.
        self.copy_button.setText(translate("message_widget", "Copied ✓"))
        button = self.copy_button  # the timer goes with the button if the message is closed first
        copy = translate("message_widget", "Copy")
        QTimer.singleShot(COPIED_FOR_MS, button, lambda: button.setText(copy))

    def _on_link(self, url: QUrl) -> None:
        if url.scheme() == "copy":
            index = int(url.path() or url.toString().split(":", 1)[1])
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
            return
        self.linkActivated.emit(self.message, url)

    def start_editing(self) -> None:
        if self.editor is not None:
            return
        self.editor = QPlainTextEdit(self._text)
        self.editor.setObjectName("messageEditor")
        self.editor.setMinimumHeight(80)
        self.editor.setTabChangesFocus(True)  # Tab goes on to Cancel and Send, as in any form
        self.editor.setAccessibleName(translate("message_widget", "Edit your message"))
        buttons = QHBoxLayout()
        send = QPushButton(translate("message_widget", "Send"))
        send.setObjectName("editSend")
        cancel = QPushButton(translate("message_widget", "Cancel"))
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(send)
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, 0, 0)
        holder_layout.addWidget(self.editor)
        holder_layout.addLayout(buttons)
        self._edit_holder = holder
        cast(QVBoxLayout, self.layout()).insertWidget(2, holder)
        self.body.hide()
        self._set_footer_visible(False)  # one row of buttons: the editor's Cancel and Send
        send.clicked.connect(self._submit_edit)
        cancel.clicked.connect(self.stop_editing)
        self.editor.setFocus()
        self.editingStarted.emit(self)

    def stop_editing(self) -> None:
        if self.editor is None:
            return
        self._edit_holder.deleteLater()
        self.editor = None
        self.body.show()
        self._set_footer_visible(True)

    def _set_footer_visible(self, visible: bool) -> None:
        for index in range(self.footer_row.count()):
            item = self.footer_row.itemAt(index)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.setVisible(visible)
        if visible:
            self.refresh()  # which buttons a message shows depends on its state

    def _submit_edit(self) -> None:
        if self.editor is None:
            return
        text = self.editor.toPlainText().strip()
        if text:
            self.stop_editing()
            self.editSubmitted.emit(self.message, text)
