"""The strip above the chat: which model, how it runs on this computer, loading progress.

Open a model with the button or by dropping a .gguf file on the window; its facts and the plan
(how many layers on the GPU, the context, the memory it needs) show at once, and loading starts
with a progress bar and a Cancel button.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.i18n import number, translate, translate_noop
from app.core.model_names import display_name
from app.ui.elided import ElidedLabel

if TYPE_CHECKING:  # importing them pulls in numpy: not at start-up
    from app.core.gguf_facts import ModelFacts
    from app.core.planner import OffloadPlan


NO_MODEL = translate_noop("model_bar", "No model yet")
NO_MODEL_HINT = translate_noop("model_bar", "Get one in Discover, or open a model file you already have.")


def human_bytes(n_bytes: float) -> str:
    value = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            decimals = 0 if unit in ("B", "KB") else 1
            return translate("model_bar", "{amount} {unit}").format(amount=number(value, decimals), unit=unit)
        value /= 1024
    return translate("model_bar", "{amount} {unit}").format(amount=number(value, 1), unit="TB")


class FactsPanel(QFrame):
    """What the file says and what the planner decided, in a two-column form."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("factsPanel")
        self.form = QFormLayout(self)
        self.form.setContentsMargins(12, 6, 12, 8)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.rows: dict[str, QLabel] = {}

    def show_facts(self, facts: ModelFacts, plan: OffloadPlan) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.rows.clear()
        from app.core.plain_words import quality_of, round_words

        gpu_layers = plan.n_gpu_layers
        quality = quality_of(facts.quantization)
        if gpu_layers <= 0:
            where = translate("model_bar", "on the processor (CPU): slower than on a graphics card")
        elif gpu_layers >= plan.total_layers:
            where = translate("model_bar", "fully on the graphics card (GPU)")
        else:
            where = translate("model_bar", "partly on the graphics card (GPU), the rest on the processor")
        ram = plan.ram_weights_bytes + plan.ram_kv_bytes + plan.ram_compute_bytes
        gpu = plan.gpu_weights_bytes + plan.gpu_kv_bytes + plan.gpu_compute_bytes
        # Plain words first; the figures an expert looks for below them.
        size = human_bytes(facts.file_size)
        if quality:
            size = translate("model_bar", "{size} · Quality: {quality}").format(size=size, quality=quality)
        if gpu:
            memory = translate("model_bar", "graphics card {gpu_memory} · RAM {ram}").format(
                gpu_memory=human_bytes(gpu), ram=human_bytes(ram)
            )
        else:
            memory = translate("model_bar", "RAM {ram}").format(ram=human_bytes(ram))
        # Plain words first; the figures an expert looks for below them. (key, label, value):
        # the key names the row for code and tests, the label is what a person reads.
        rows = [
            ("Size", translate("model_bar", "Size:"), size),
            ("Runs", translate("model_bar", "Runs:"), where),
            ("Memory", translate("model_bar", "Memory:"), memory),
            (
                "Remembers",
                translate("model_bar", "Remembers:"),
                translate("model_bar", "{amount} of a conversation").format(amount=round_words(plan.n_ctx)),
            ),
            (
                "Made for",
                translate("model_bar", "Made for:"),
                translate("model_bar", "conversations")
                if facts.has_chat_template
                else translate("model_bar", "continuing text (a base model)"),
            ),
            ("Technical", "", ""),
            ("Name in the file", translate("model_bar", "Name in the file:"), facts.name or facts.path.name),
            ("Architecture", translate("model_bar", "Architecture:"), facts.architecture),
            ("Parameters", translate("model_bar", "Parameters:"), facts.size_label or "—"),
            ("Quantization", translate("model_bar", "Quantization:"), facts.quantization),
            (
                "Context",
                translate("model_bar", "Context:"),
                translate("model_bar", "{tokens} tokens (trained for {trained})").format(
                    tokens=number(plan.n_ctx), trained=number(facts.context_length)
                ),
            ),
            (
                "Chat template",
                translate("model_bar", "Chat template:"),
                translate("model_bar", "in the file")
                if facts.has_chat_template
                else translate("model_bar", "none (a standard one is used)"),
            ),
            (
                "GPU layers",
                translate("model_bar", "GPU layers:"),
                translate("model_bar", "{layers} of {total}").format(
                    layers=gpu_layers, total=plan.total_layers
                ),
            ),
        ]
        for key, title, value in rows:
            if key == "Technical":
                heading = QLabel(translate("model_bar", "Technical details"))
                heading.setObjectName("factsHeading")
                self.form.addRow(heading)
                continue
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(title, label)
            self.rows[key] = label


class ModelBar(QFrame):
    openRequested = Signal()
    loadRequested = Signal()
    cancelRequested = Signal()
    unloadRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelBar")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 8, 12, 8)
        outer.setSpacing(6)
        row = QHBoxLayout()
        self.open_button = QPushButton(translate("model_bar", "Open model…"))
        self.open_button.setToolTip(
            translate(
                "model_bar", "Open a model file you already have (a .gguf file; or drop it on the window)"
            )
        )
        self.open_button.clicked.connect(self.openRequested)
        row.addWidget(self.open_button)
        texts = QVBoxLayout()
        texts.setSpacing(0)
        self.name_label = ElidedLabel(
            translate("model_bar", NO_MODEL)
        )  # a long name gives way in a narrow window
        self.name_label.setObjectName("modelName")
        self.plan_label = QLabel(translate("model_bar", NO_MODEL_HINT))
        self.plan_label.setObjectName("planSummary")
        self.plan_label.setWordWrap(True)
        texts.addWidget(self.name_label)
        texts.addWidget(self.plan_label)
        row.addLayout(texts, 1)
        self.details_button = QPushButton(translate("model_bar", "Details"))
        self.details_button.setToolTip(
            translate("model_bar", "Size, quality, memory and the technical facts of this model")
        )
        self.details_button.setCheckable(True)
        self.details_button.setEnabled(False)
        row.addWidget(self.details_button)
        self.load_button = QPushButton(translate("model_bar", "Load"))
        self.load_button.clicked.connect(self.loadRequested)
        self.load_button.hide()
        row.addWidget(self.load_button)
        self.cancel_button = QPushButton(translate("model_bar", "Cancel"))
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.cancel_button.hide()
        row.addWidget(self.cancel_button)
        self.unload_button = QPushButton(translate("model_bar", "Unload"))
        self.unload_button.setToolTip(translate("model_bar", "Free the memory the model uses"))
        self.unload_button.clicked.connect(self.unloadRequested)
        self.unload_button.hide()
        row.addWidget(self.unload_button)
        outer.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat(translate("model_bar", "Loading… %p%"))
        self.progress.hide()
        outer.addWidget(self.progress)
        self.facts_panel = FactsPanel()
        self.facts_panel.hide()
        outer.addWidget(self.facts_panel)
        self.details_button.toggled.connect(self.facts_panel.setVisible)

    def show_model(self, facts: ModelFacts, plan: OffloadPlan) -> None:
        self.name_label.setText(display_name(facts.path))
        self.name_label.setToolTip(f"{facts.path}\n{facts.name}" if facts.name else str(facts.path))
        self.plan_label.setText(plan.summary)
        self.facts_panel.show_facts(facts, plan)
        self.details_button.setEnabled(True)

    def set_state(self, state: str) -> None:
        """'empty' | 'ready' (opened, not loaded) | 'loading' | 'loaded'."""
        self.progress.setVisible(state == "loading")
        self.cancel_button.setVisible(state == "loading")
        self.load_button.setVisible(state == "ready")
        self.unload_button.setVisible(state == "loaded")
        self.open_button.setEnabled(state != "loading")
        if state == "loading":
            self.progress.setValue(0)

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
