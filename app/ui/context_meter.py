"""How full the model's memory (its context) is: "1,234 / 4,096 tokens" and a thin bar under
the composer. When a conversation has outgrown the context, the oldest messages are left out
of what the model sees (app/core/chat/prompt.py); the meter says so in plain words, it is
never an error."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QWidget

from app.core.i18n import number, translate

WARNING_FRACTION = 0.8


class ContextMeter(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 0, 12, 6)
        layout.setSpacing(8)
        self.note = QLabel()
        self.note.setObjectName("contextMeterNote")
        self.note.hide()
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.label = QLabel()
        self.label.setObjectName("contextMeterLabel")
        layout.addWidget(self.label)
        self.bar = QProgressBar()
        self.bar.setObjectName("contextMeterBar")
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(120, 5)
        self.bar.setRange(0, 1000)
        layout.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignVCenter)
        self.used = 0
        self.total = 0
        self.dropped = 0
        self.setToolTip(
            translate(
                "context_meter",
                "How much of the model's memory (its context) this conversation fills. "
                "When it is full, the oldest messages are left out of what the model sees.",
            )
        )

    def set_usage(self, used: int, total: int, dropped: int = 0, exact: bool = False) -> None:
        self.used, self.total, self.dropped = used, total, dropped
        if total <= 0:
            self.hide()
            return
        fraction = min(1.0, used / total)
        # Plain first ("Model memory: 12% full"); the token count one hover away.
        if 0 < fraction < 0.01:
            self.label.setText(translate("context_meter", "Model memory: less than 1% full"))
        else:
            self.label.setText(
                translate("context_meter", "Model memory: {percent}% full").format(
                    percent=number(fraction * 100)
                )
            )
        if exact:
            tokens = translate("context_meter", "{used} of {total} tokens (a token is about ¾ of a word).")
        else:
            tokens = translate(
                "context_meter", "about {used} of {total} tokens (a token is about ¾ of a word)."
            )
        self.label.setToolTip(tokens.format(used=number(used), total=number(total)) + " " + self.toolTip())
        self.bar.setValue(int(fraction * 1000))
        level = "warning" if fraction >= WARNING_FRACTION or dropped else "normal"
        if self.bar.property("level") != level:
            self.bar.setProperty("level", level)
            self.bar.style().unpolish(self.bar)
            self.bar.style().polish(self.bar)
        if dropped:
            # Two sources: i18n's English singular only looks at the word right after %n.
            if dropped == 1:
                note = translate(
                    "context_meter", "%n oldest message left out — beyond the model's memory", None, dropped
                )
            else:
                note = translate(
                    "context_meter", "%n oldest messages left out — beyond the model's memory", None, dropped
                )
            self.note.setText(note)
            self.note.setToolTip(
                translate(
                    "context_meter",
                    "The conversation is longer than the model's context. The assistant still "
                    "answers, but no longer sees the oldest messages. A larger context size "
                    "(Chat settings › Advanced) lets it remember more.",
                )
            )
        self.note.setVisible(bool(dropped))
        self.show()

    @property
    def text(self) -> str:
        return " ".join(t for t in (self.note.text() if self.dropped else "", self.label.text()) if t)
