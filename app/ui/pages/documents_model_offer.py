"""The multilingual embedding model on the Documents page: offered as a download (the bar's
button; instead of it, a recommendation notice above the bar when the open collection is mostly
not in English),
downloaded through the window's DownloadController like a chat model (it appears in Downloads
and the Library too), and chosen when the download ends; the page then re-embeds the
collections for it (indexer.py: search keeps working with the old model meanwhile).

What is shown comes from app/core/documents/embedding_models.py (name, size, languages) and
app/core/documents/language_guess.py (is the collection mostly not English? read on the IO
pool from a sample of its passages). Whether the file is in the models folder is looked up on
the IO pool too (look(): when the bar is shown, the folder changes, or any download of the
model's repository ends, ours or one started in Discover); the GUI thread only draws.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.core.documents import embedding_models as em
from app.core.downloads.progress import format_bytes
from app.core.i18n import number, translate
from app.core.settings import SettingsStore
from app.ui.pages.documents_loader import with_index
from app.ui.tasks import run_task

log = logging.getLogger("enclave.ui.documents")

MODEL = em.MULTILINGUAL


def model_summary() -> str:
    """"EmbeddingGemma 300M: more than 100 languages, 333.6 MB" (for buttons' tooltips)."""
    return translate("documents_model_offer", "{model}: {languages}, {size} download").format(
        model=MODEL.name,
        languages=translate("embedding_models", MODEL.languages),
        size=format_bytes(MODEL.size_bytes),
    )


class RecommendationBar(QFrame):
    """One sentence and a button, shown while the open collection is mostly not in English and
    the search model is the English one."""

    accepted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("embeddingRecommendation")
        # Styled as the app's information notices (style.qss, theme.py: "level").
        self.setProperty("level", "info")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 6)
        self.label = QLabel()
        self.label.setObjectName("recommendationLabel")
        self.label.setWordWrap(True)
        self.button = QPushButton()
        self.button.setObjectName("recommendationButton")
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.button.clicked.connect(self.accepted)
        self.hide()

    def show_for(self, button_text: str, enabled: bool) -> None:
        """The bar's own button is hidden meanwhile, so this one says what it said (Get, Use,
        Downloading… n %): one button for one action."""
        self.label.setText(
            translate(
                "documents_model_offer",
                "Most of this collection is not in English. Search by meaning works better "
                "with the multilingual model ({languages}).",
            ).format(languages=translate("embedding_models", MODEL.languages))
        )
        self.button.setText(button_text)
        self.button.setEnabled(enabled)
        self.button.setToolTip(model_summary())
        self.show()


class MultilingualOffer(QObject):
    """Owns the download and the recommendation; `chosen(path)` asks the page to use the file."""

    chosen = Signal(str)
    failed = Signal(str)  # a sentence for the page's note

    def __init__(self, window: Any, settings: SettingsStore, button: QPushButton,
                 recommendation: RecommendationBar) -> None:  # fmt: skip
        super().__init__(recommendation)
        self.window = window
        self.settings = settings
        self.button = button
        self.recommendation = recommendation
        self.job_id: str | None = None  # our download, while it runs
        self._downloads: Any = None
        self._fraction = 0.0
        self._asked_for: str | None = None  # the collection whose language is being read
        self._foreign = False  # the open collection is mostly not in English
        # The model's file in the models folder, as last looked up on the IO pool (look()): the
        # folder may be a network share, and refresh() runs at every download progress report.
        self._installed: Path | None = None
        button.clicked.connect(self.want)
        recommendation.accepted.connect(self.want)
        # A file downloaded elsewhere (Discover, the Library) ends no download of ours: look
        # again whenever the bar comes into view, so it says "Use" rather than "Get".
        bar = button.parentWidget()
        if bar is not None:
            bar.installEventFilter(self)
        # Listen to the window's download queue from the start, not only after our own
        # download: a copy fetched from Discover while this page is on screen must turn
        # "Get" into "Use" at once.
        self._controller()
        self.look()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Show:
            self._controller()  # the models area may not have existed when the page was built
            self.look()
        return False

    # ---- what is there -------------------------------------------------------------------
    def look(self) -> None:
        """Draw now, then look for the model's file on the IO pool and draw again."""
        self.refresh()
        models_dir = self.settings.current.resolved_models_dir()

        def find(_progress: Any, _cancel: Any) -> Path | None:
            return em.installed_file(MODEL, models_dir)

        run_task(find, name="documents-multilingual-file", on_result=self._found)

    def _found(self, path: Path | None) -> None:
        self._installed = path
        self.refresh()

    def installed(self) -> Path | None:
        return self._installed

    @property
    def downloading(self) -> bool:
        return self.job_id is not None

    def _in_use(self) -> bool:
        setting = self.settings.current.embedding_model
        model = em.model_for_file(setting) if setting else em.BUILTIN
        return model is not None and model.multilingual

    def refresh(self) -> None:
        """Draw the button and the recommendation as things are now."""
        in_use = self._in_use()
        installed = self.installed() is not None
        recommend = self._foreign and em.may_suggest_multilingual(self.settings.current.embedding_model)
        # Not two buttons for one action: while the recommendation shows, its button is the one.
        self.button.setVisible(not in_use and not recommend)
        self.button.setEnabled(not self.downloading)
        if self.downloading:
            self.button.setText(
                translate("documents_model_offer", "Downloading the multilingual model… {percent} %")
                .format(percent=number(round(self._fraction * 100)))
            )
        elif installed:
            self.button.setText(translate("documents_model_offer", "Use the multilingual model"))
        else:
            self.button.setText(
                translate("documents_model_offer", "Get the multilingual model ({size})").format(
                    size=format_bytes(MODEL.size_bytes)
                )
            )
        self.button.setToolTip(model_summary())
        if recommend:
            self.recommendation.show_for(self.button.text(), not self.downloading)
        else:
            self.recommendation.hide()

    # ---- the language of the open collection ---------------------------------------------
    def check_collection(self, name: str | None) -> None:
        """Read a sample of the collection's passages on the IO pool and guess its language."""
        self._asked_for = name
        if name is None:
            self._foreign = False
            self.refresh()
            return

        def guess(idx: Any) -> bool:
            from app.core.documents.index import CollectionNotFound
            from app.core.documents.language_guess import SAMPLE_PASSAGES, mostly_not_english

            try:
                cid = idx.collection(name).id
            except CollectionNotFound:
                return False
            return mostly_not_english(idx.sample_texts(cid, SAMPLE_PASSAGES))

        def show(foreign: bool) -> None:
            if self._asked_for == name:  # not an answer for a collection closed since
                self._foreign = foreign
                self.refresh()

        run_task(with_index(guess), name="documents-language", on_result=show)

    # ---- getting it ----------------------------------------------------------------------
    def want(self) -> None:
        """The user asked for the multilingual model: use it when it is here, else get it."""
        path = self.installed()
        if path is not None and path.is_file():
            self.chosen.emit(str(path))
            return
        if self.downloading:
            return
        downloads = self._controller()
        if downloads is None:
            self.failed.emit(translate("documents_model_offer", "Downloads are not available here."))
            return
        from app.core.hub import HubError

        try:
            # The name the repo had when the catalog was made; a renamed file gets a stand-in
            # of the same quantization (the Downloads row says which).
            job = downloads.add(MODEL.repo_id, MODEL.filename, stand_in=True)
        except HubError as exc:
            self.failed.emit(str(exc))
            return
        self.job_id, self._fraction = job.id, 0.0
        log.info("downloading the multilingual embedding model")
        self.refresh()

    def _controller(self) -> Any:
        if self._downloads is None:
            area = getattr(self.window, "models_area", None)
            if area is None:
                return None
            self._downloads = area.downloads
            self._downloads.progressed.connect(self._on_progress)
            self._downloads.jobFinished.connect(self._on_finished)
            self._downloads.jobFailed.connect(self._on_failed)
            self._downloads.jobsChanged.connect(self._on_jobs_changed)
        return self._downloads

    def _on_progress(self, report: Any) -> None:
        if report.job_id == self.job_id:
            self._fraction = report.fraction
            self.refresh()

    def _on_finished(self, job: Any) -> None:
        if job.id != self.job_id:
            if job.repo_id == MODEL.repo_id:  # fetched elsewhere (Discover, the Library)
                self.look()
            return
        self.job_id = None
        if job.path and Path(job.path).is_file():
            self._installed = Path(job.path)
            self.refresh()
            self.chosen.emit(job.path)  # switch to it: the page re-embeds the collections
        else:
            self.look()

    def _on_failed(self, job: Any) -> None:
        if job.id != self.job_id:
            return
        self.job_id = None
        self.refresh()
        self.failed.emit(
            translate("documents_model_offer", "The multilingual model could not be downloaded: {error}")
            .format(error=job.error)
        )

    def _on_jobs_changed(self) -> None:
        """Cancelled or removed in Downloads: offer it again."""
        if self.job_id is None or self._downloads is None:
            return
        job = next((j for j in self._downloads.jobs() if j.id == self.job_id), None)
        if job is None or job.state == "cancelled":
            self.job_id = None
            self.refresh()
