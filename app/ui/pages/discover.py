"""Discover: the starter catalog with "Get the recommended model for this computer" (works
without network), then a search of GGUF models on Hugging Face with more results loading as
the user scrolls. Clicking a model opens its page; downloads show in the panel below.

With offline mode on, the page says so and makes no network call at all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.cancel import CancelToken
from app.core.i18n import translate, translate_noop
from app.ui.notice_bar import NoticeBar
from app.ui.pages.discover_lists import CatalogList, ResultsList
from app.ui.pages.download_controller import DownloadController
from app.ui.pages.downloads_panel import DownloadsPanel
from app.ui.pages.model_page import ModelPage
from app.ui.pages.models_common import (
    fit_label,
    format_bytes,
    linkify,
    settings_can_fix,
    with_hardware,
)
from app.ui.speed_label import measure_again_button, speed_text, with_machine_profile
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    from app.core.catalog import CatalogEntry
    from app.core.fit import Fit
    from app.core.hub import ModelSummary, SearchPager
    from app.ui.main_window import MainWindow

log = logging.getLogger("enclave.ui.discover")

SORTS = [
    ("downloads", translate_noop("discover", "Most downloaded")),
    ("likes", translate_noop("discover", "Most liked")),
    ("trending", translate_noop("discover", "Trending")),
    ("updated", translate_noop("discover", "Recently updated")),
]
RECOMMEND_TEXT = translate_noop("discover", "Get the recommended model for this computer")
OFFLINE_TEXT = translate_noop(
    "discover",
    "Offline mode is on: Enclave does not connect to the internet, so searching and "
    "downloading are off. The starter list below still shows what would suit this computer.",
)


class DiscoverHome(QWidget):
    """Catalog + search + results (the first view of the Discover page)."""

    openRequested = Signal(str)
    settingsRequested = Signal()
    page_size = 30

    def __init__(self, window: MainWindow, downloads: DownloadController) -> None:
        super().__init__()
        self.window_ = window
        self.downloads = downloads
        self.pager: SearchPager | None = None
        self.loading = False
        self.generation = 0
        self.recommended: tuple[CatalogEntry, Fit] | None = None
        self._recommend_pending = False
        self._catalog_loaded = False
        # The download the banner speaks of: the banner follows it (failed, removed), so it
        # never says "downloading" about a download that is not happening.
        self._banner_job: tuple[str, str] | None = None  # (job id, model name)
        downloads.jobFailed.connect(self._banner_job_failed)
        downloads.jobsChanged.connect(self._banner_job_maybe_gone)
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 8)
        layout.setSpacing(8)
        title = QLabel(translate("discover", "Discover models"))
        title.setObjectName("modelsTitle")
        layout.addWidget(title)
        self.offline_banner = QFrame()
        self.offline_banner.setObjectName("offlineBanner")
        banner = QHBoxLayout(self.offline_banner)
        banner.setContentsMargins(12, 8, 8, 8)
        self.offline_label = QLabel(translate("discover", OFFLINE_TEXT))
        self.offline_label.setWordWrap(True)
        banner.addWidget(self.offline_label, 1)
        settings_button = QPushButton(translate("discover", "Open Settings"))
        settings_button.clicked.connect(self.settingsRequested)
        banner.addWidget(settings_button)
        layout.addWidget(self.offline_banner)
        self.notice = NoticeBar()
        self.notice.label.setOpenExternalLinks(True)
        self.notice.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(self.notice)

        card = QFrame()
        card.setObjectName("recommendCard")
        card_layout = QHBoxLayout(card)
        card_layout.setContentsMargins(14, 10, 14, 10)
        texts = QVBoxLayout()
        heading = QLabel(translate("discover", "New here? Start with the model that suits this computer."))
        heading.setObjectName("recommendHeading")
        heading.setWordWrap(True)  # a small window: it wraps rather than hold the window wide
        self.recommend_label = QLabel(translate("discover", "Checking this computer…"))
        self.recommend_label.setObjectName("recommendDetail")
        self.recommend_label.setWordWrap(True)
        texts.addWidget(heading)
        texts.addWidget(self.recommend_label)
        card_layout.addLayout(texts, 1)
        self.recommend_button = QPushButton(translate("discover", RECOMMEND_TEXT))
        self.recommend_button.setObjectName("recommendButton")
        self.recommend_button.clicked.connect(self.get_recommended)
        self.measure_button = measure_again_button(self.load_catalog)  # speeds follow the new measure
        buttons = QVBoxLayout()  # one above the other: a small window keeps room for the words
        buttons.addWidget(self.recommend_button)
        buttons.addWidget(self.measure_button, 0, Qt.AlignmentFlag.AlignRight)
        card_layout.addLayout(buttons)
        layout.addWidget(card)

        self.catalog = CatalogList()
        self.catalog.setMaximumHeight(190)
        self.catalog.openRequested.connect(self.openRequested)
        self.catalog.downloadRequested.connect(self.download_entry)
        layout.addWidget(self.catalog)

        search_row = QHBoxLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("searchEdit")
        self.search_edit.setAccessibleName(translate("discover", "Search models on Hugging Face"))
        self.search_edit.setPlaceholderText(
            translate("discover", "Search the models on Hugging Face, e.g. llama, qwen, mistral…")
        )
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.returnPressed.connect(self.search)
        self.sort_combo = QComboBox()
        for key, label in SORTS:
            self.sort_combo.addItem(translate("discover", label), key)
        self.sort_combo.currentIndexChanged.connect(self._sort_changed)
        self.search_button = QPushButton(translate("discover", "Search"))
        self.search_button.setObjectName("searchButton")
        self.search_button.clicked.connect(self.search)
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.sort_combo)
        search_row.addWidget(self.search_button)
        layout.addLayout(search_row)

        self.results = ResultsList()
        self.results.openRequested.connect(self.openRequested)
        self.results.nearEnd.connect(self.load_more)
        layout.addWidget(self.results, 1)
        self.status = QLabel(
            translate("discover", "Search for a model above, or pick one of the starter models.")
        )
        self.status.setObjectName("modelsHint")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.apply_settings()

    # -- lifecycle -----------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._catalog_loaded:
            self._catalog_loaded = True
            self.load_catalog()

    def apply_settings(self) -> None:
        """Follow the network gate: offline mode, HF_HUB_OFFLINE, the organisation's policy."""
        from app.core.hub import OfflineError
        from app.core.net.gate import gate

        settings = self.window_.settings
        no_search = gate().closed_because("search", settings)
        no_download = gate().closed_because("download", settings)
        offline = no_search is not None
        closed = no_search or no_download
        self.offline_banner.setVisible(closed is not None)
        if closed is not None:
            plain = type(closed) is OfflineError  # the user's own switch: the banner's words
            self.offline_label.setText(translate("discover", OFFLINE_TEXT) if plain else str(closed))
        for widget in (self.search_edit, self.sort_combo, self.search_button):
            widget.setEnabled(not offline)
        why = "" if no_download is None else (
            translate("discover", "Offline mode is on (see Settings)")
            if type(no_download) is OfflineError
            else str(no_download)
        )
        self.catalog.set_downloads_enabled(no_download is None, why)
        self.recommend_button.setEnabled(no_download is None)
        self.recommend_button.setToolTip(why)
        if offline:
            self.notice.hide()

    def _search_closed(self) -> bool:
        from app.core.net.gate import gate

        return not gate().is_open("search", self.window_.settings)

    # -- catalog -------------------------------------------------------------------------
    def load_catalog(self) -> None:
        def read(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.catalog import load_catalog

            return load_catalog()

        run_task(read, name="catalog", on_result=self._got_catalog, on_error=self._catalog_failed)

    def _got_catalog(self, entries: list[CatalogEntry]) -> None:
        from app.core.policy_rules import model_allowed

        # The organisation's allowed_models: the starter models it does not allow are not shown.
        entries = [e for e in entries if model_allowed(e.filename, e.repo_id)]
        self.catalog.set_entries(entries)
        self.apply_settings()
        if not entries:
            self.recommend_label.setText(
                translate("discover", "Your organisation allows none of the starter models.")
            )
            self.recommend_button.setEnabled(False)
            return
        with_hardware(self.window_, lambda hw: self._assess(entries, hw))

    def _catalog_failed(self, exc: Exception) -> None:
        self.recommend_label.setText(str(exc))
        self.recommend_button.setEnabled(False)

    def _assess(self, entries: list[CatalogEntry], hardware: Any) -> None:
        if hardware is None:
            self.recommend_label.setText(
                translate(
                    "discover", "Enclave could not examine this computer; the smallest model is a safe start."
                )
            )
            return

        def fits(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.catalog import assess_catalog

            return [f for _e, f in assess_catalog(hardware, entries)]

        run_task(fits, name="catalog-fit", on_result=self.catalog.set_fits, on_error=self._catalog_failed)
        # The recommendation must be fast enough here, so it waits for this machine's speed
        # (kept: at once; the first time: measured in about 10 s, in a child process).
        with_machine_profile(lambda profile: self._assess_speed(entries, hardware, profile))

    def _assess_speed(self, entries: list[CatalogEntry], hardware: Any, profile: Any) -> None:
        def assess(_progress: ProgressFn, _cancel: CancelToken) -> Any:
            from app.core.catalog import assess_catalog, assess_speeds, recommend

            assessed = assess_catalog(hardware, entries)
            chosen = recommend(hardware, entries, profile)
            speeds = assess_speeds(assessed, profile)
            index = next(i for i, (e, _f) in enumerate(assessed) if e.id == chosen[0].id)
            return [f for _e, f in assessed], chosen, speeds, speeds[index], profile is not None

        run_task(assess, name="catalog-speed", on_result=self._assessed, on_error=self._catalog_failed)

    def _assessed(self, result: Any) -> None:
        fits, recommended, speeds, speed, known = result
        self.catalog.set_fits(fits)
        self.catalog.set_speeds(speeds, known)
        self.recommended = recommended
        entry, fit = recommended
        verdict, _level = fit_label(fit)
        if speed is not None:
            text = translate(
                "discover", "Recommended here: <b>{model}</b> · {size} · {verdict} · {speed}. {good_for}"
            )
        else:
            text = translate("discover", "Recommended here: <b>{model}</b> · {size} · {verdict}. {good_for}")
        self.recommend_label.setText(
            text.format(
                model=entry.name,
                size=format_bytes(entry.size_bytes),
                verdict=verdict,
                speed=speed_text(speed) if speed is not None else "",
                good_for=translate("catalog_json", entry.good_for),
            )
        )
        if self._recommend_pending:
            self._recommend_pending = False
            self.get_recommended()

    def get_recommended(self) -> None:
        if self.recommended is None:
            self._recommend_pending = True
            self.recommend_label.setText(
                translate("discover", "Checking this computer… the download starts next.")
            )
            return
        self.download_entry(self.recommended[0])

    def download_entry(self, entry: CatalogEntry) -> None:
        from app.core.hub import HubError

        try:
            # The catalog's file names could change on the hub: a missing one gets a stand-in
            # of the same quantization, and the Downloads row says which.
            job = self.downloads.add(entry.repo_id, entry.filename, stand_in=True)
        except HubError as exc:
            self.notice.show_message(str(exc), "error")
            return
        self._banner_job = (job.id, entry.name)
        self.notice.show_message(
            translate(
                "discover",
                "Getting {model} ({size}); see Downloads below. It appears in your Library when it is done.",
            ).format(model=entry.name, size=format_bytes(entry.size_bytes)),
            "info",
        )

    def _banner_job_failed(self, job: Any) -> None:
        if self._banner_job is not None and job.id == self._banner_job[0]:
            name = self._banner_job[1]
            self._banner_job = None
            failed = translate("discover", "{model} could not be downloaded: {error}")
            self.notice.show_message(failed.format(model=name, error=job.error), "error")

    def _banner_job_maybe_gone(self) -> None:
        if self._banner_job is None:
            return
        job = next((j for j in self.downloads.jobs() if j.id == self._banner_job[0]), None)
        if job is None or job.state in ("cancelled", "done"):  # removed from the list, or over
            self._banner_job = None
            self.notice.hide()

    # -- search --------------------------------------------------------------------------
    def _sort_changed(self, _index: int) -> None:
        if self.pager is not None:
            self.search()

    def search(self) -> None:
        if self._search_closed():
            self.apply_settings()
            return
        from app.core.hub import SearchPager

        self.generation += 1
        self.pager = SearchPager(
            self.search_edit.text(),
            self.sort_combo.currentData(),
            self.page_size,
            settings=self.window_.settings,
        )
        self.results.clear()
        self.notice.hide()
        self.loading = False
        self.load_more()

    def load_more(self) -> None:
        pager = self.pager
        if pager is None or self.loading or not pager.has_more:
            return
        if self._search_closed():
            return
        self.loading = True
        generation = self.generation
        self.status.setText(
            translate("discover", "Searching Hugging Face…")
            if not pager.loaded
            else translate("discover", "Loading more…")
        )

        def fetch(_progress: ProgressFn, _cancel: CancelToken) -> list[ModelSummary]:
            return pager.next_page()

        run_task(
            fetch,
            name="search",
            on_result=lambda page: self._got_page(generation, page),
            on_error=lambda exc: self._search_failed(generation, exc),
        )

    def _got_page(self, generation: int, page: list[ModelSummary]) -> None:
        if generation != self.generation or self.pager is None:
            return
        self.loading = False
        from app.core.policy_rules import allowed_repos

        self.results.add_models(allowed_repos(page))  # the organisation's allowed_models
        count = self.results.topLevelItemCount()
        query = self.pager.query
        if count == 0:
            self.status.setText(
                translate("discover", "No models match “{query}”. Try a shorter or different word.").format(
                    query=query
                )
                if query
                else translate("discover", "No models found.")
            )
        elif self.pager.has_more:
            self.status.setText(translate("discover", "%n models shown · scroll down for more", n=count))
        else:
            self.status.setText(translate("discover", "%n models · that is all", n=count))
        if self.pager.has_more:  # a short page may not fill the list: check once laid out
            QTimer.singleShot(50, self.results.check_end)

    def _search_failed(self, generation: int, exc: Exception) -> None:
        if generation != self.generation:
            return
        from app.core.hub import HubError

        self.loading = False
        self.status.setText("")
        text = (
            str(exc)
            if isinstance(exc, HubError)
            else translate("discover", "The search failed: {error}").format(error=exc)
        )
        actions = [(translate("discover", "Try again"), self.search)]
        if settings_can_fix(exc):
            actions.append((translate("discover", "Open Settings"), self.settingsRequested.emit))
        self.notice.show_message(linkify(text), "error", actions)


class DiscoverPage(QWidget):
    """The rail page: Discover home and a model's page in a stack, Downloads below."""

    settingsRequested = Signal()
    libraryRequested = Signal()

    def __init__(self, window: MainWindow, downloads: DownloadController) -> None:
        super().__init__()
        self.setObjectName("discoverPage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.stack = QStackedWidget()
        self.home = DiscoverHome(window, downloads)
        self.model_page = ModelPage(window, downloads)
        self.stack.addWidget(self.home)
        self.stack.addWidget(self.model_page)
        layout.addWidget(self.stack, 1)
        self.downloads_panel = DownloadsPanel(downloads)
        layout.addWidget(self.downloads_panel)
        self.home.openRequested.connect(self.open_model)
        self.model_page.backRequested.connect(self.show_home)
        self.home.settingsRequested.connect(self.settingsRequested)
        self.model_page.settingsRequested.connect(self.settingsRequested)
        self.downloads_panel.libraryRequested.connect(self.libraryRequested)

    def open_model(self, repo_id: str) -> None:
        if not repo_id:
            return
        self.model_page.open(repo_id)
        self.stack.setCurrentWidget(self.model_page)

    def show_home(self) -> None:
        self.stack.setCurrentWidget(self.home)

    def apply_settings(self) -> None:
        self.home.apply_settings()
        self.downloads_panel.refresh()
