"""The bar at the bottom of the Documents page: which embedding model searches by meaning, and
the buttons to choose another one or go back to the built-in one (and a button for the
multilingual model, which documents_model_offer.py drives). It only shows and asks; the
page saves the choice in the window's SettingsStore and, on the store's event, shows the new
setting here and re-indexes the collections for it. Split out of documents.py by job.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.core.i18n import translate
from app.ui.pages.documents_indexing import embedding_model_path


class EmbeddingModelBar(QFrame):
    modelChosen = Signal(str)  # a .gguf path, or "" for the built-in model

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("embeddingBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.label = QLabel()
        self.label.setObjectName("embeddingLabel")
        self.label.setWordWrap(True)
        self.choose_button = QPushButton(translate("documents_embedding_bar", "Choose model…"))
        self.builtin_button = QPushButton(translate("documents_embedding_bar", "Use built-in"))
        # Get or use the multilingual model: its text and action are the offer's
        # (documents_model_offer.MultilingualOffer).
        self.multilingual_button = QPushButton()
        self.multilingual_button.setObjectName("multilingualButton")
        layout.addWidget(self.label, 1)
        layout.addWidget(self.multilingual_button)
        layout.addWidget(self.choose_button)
        layout.addWidget(self.builtin_button)
        self.choose_button.clicked.connect(self.ask_model)
        self.builtin_button.clicked.connect(lambda: self.modelChosen.emit(""))

    def show_setting(self, setting: str) -> None:
        """Say what search can do with the model `setting` names ("" = built-in), and whether
        the file is there: without it, search falls back to keywords only."""
        path = embedding_model_path(setting)
        self.builtin_button.setVisible(bool(setting))
        if path.is_file():
            # Plain words; which model does it (the technical name) is in the tooltip.
            text = translate(
                "documents_embedding_bar",
                "Search finds what you ask about by its meaning, not only by the exact words.",
            )
            if not setting:
                tip = translate(
                    "documents_embedding_bar",
                    "Search by meaning uses the built-in model {model} (an embedding model), "
                    "and keywords: {path}",
                )
            else:
                tip = translate(
                    "documents_embedding_bar",
                    "Search by meaning uses your model {model} (an embedding model), and keywords: {path}",
                )
            tip = tip.format(model=path.stem, path=path)
            self.label.setProperty("level", "ok")
        else:
            text = translate(
                "documents_embedding_bar",
                "Search by meaning is off: its model file is missing ({file}). Search finds "
                "exact words only (keyword search).",
            ).format(file=path.name)
            tip = translate(
                "documents_embedding_bar", "No embedding model at {path}: keyword search (BM25) only."
            ).format(path=path)
            self.label.setProperty("level", "warning")
        self.label.setToolTip(tip)
        self.label.setText(text)
        # The style sheet colours the label by its "level" property; re-polish to apply it.
        self.label.style().unpolish(self.label)
        self.label.style().polish(self.label)

    def ask_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            translate("documents_embedding_bar", "Choose an embedding model"),
            str(Path.home()),
            translate("documents_embedding_bar", "GGUF models (*.gguf)"),
        )
        if path:
            self.modelChosen.emit(path)
