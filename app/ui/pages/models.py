"""The Models area on the rail: Discover (with model pages and Downloads), Library, Settings.

`install_models_pages(window)` adds three light placeholders; each real page (and the core
modules it needs) is built the first time it is shown, so the window opens as fast as before.
`ModelsArea` wires the pages together once they exist: a finished download refreshes the
Library, a settings change reaches Discover and the Library, and downloads left unfinished by
an earlier run continue shortly after the window is on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QMessageBox, QVBoxLayout, QWidget

from app.core.cancel import CancelToken
from app.core.i18n import translate
from app.ui.observe import observe
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    from app.core.downloads import DownloadJob
    from app.ui.main_window import MainWindow
    from app.ui.pages.discover import DiscoverPage
    from app.ui.pages.download_controller import DownloadController
    from app.ui.pages.library import LibraryPage
    from app.ui.pages.settings_page import SettingsPage

RESUME_DELAY_MS = 1500  # after the first paint and the engine warm-up
PageT = TypeVar("PageT", bound=QWidget)


class LazyPage(QWidget, Generic[PageT]):
    """A rail page whose real widget is built on first show (or first `build()`)."""

    def __init__(self, factory: Callable[[], PageT]) -> None:
        super().__init__()
        self._factory = factory
        self.page: PageT | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def build(self) -> PageT:
        if self.page is None:
            self.page = self._factory()
            self._layout.addWidget(self.page)
        return self.page

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        self.build()
        super().showEvent(event)


class ModelsArea(QObject):
    """Owns the Models pages and the download queue; everything is created on first use."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._downloads: DownloadController | None = None
        self.discover_holder = LazyPage(self._make_discover)
        self.library_holder = LazyPage(self._make_library)
        self.settings_holder = LazyPage(self._make_settings)
        window.installEventFilter(self)
        observe(window.service.loaded, self, self._model_loaded)
        from app.core.net.gate import gate

        # The network gate opened or closed (offline mode, HF_HUB_OFFLINE, the policy): Discover
        # follows on the GUI thread (the download queue follows by itself).
        observe(gate().changed, self, lambda: QTimer.singleShot(0, self, self._gate_changed))

        # A token another program left: asked about once, after the window is on screen.
        self.token_questions: list[QMessageBox] = []
        window.shown.connect(lambda: QTimer.singleShot(RESUME_DELAY_MS, self, self._ask_about_token))

    def _gate_changed(self) -> None:
        if self.discover_holder.page is not None:
            self.discover_holder.page.apply_settings()

    def _ask_about_token(self) -> None:
        from app.ui.token_question import ask_about_other_token

        ask_about_other_token(self.window.settings_store, self.window, self.token_questions)

    # -- the pieces (built on first use) -------------------------------------------------
    @property
    def downloads(self) -> DownloadController:
        if self._downloads is None:
            from app.ui.pages.download_controller import DownloadController

            self._downloads = DownloadController(self.window.settings, parent=self)
            self._downloads.jobFinished.connect(self._download_finished)
        return self._downloads

    @property
    def discover(self) -> DiscoverPage:
        return self.discover_holder.build()

    @property
    def library(self) -> LibraryPage:
        return self.library_holder.build()

    @property
    def settings(self) -> SettingsPage:
        return self.settings_holder.build()

    def _make_discover(self) -> DiscoverPage:
        from app.ui.pages.discover import DiscoverPage

        page = DiscoverPage(self.window, self.downloads)
        page.settingsRequested.connect(lambda: self.window.show_page("settings"))
        page.libraryRequested.connect(lambda: self.window.show_page("library"))
        return page

    def _make_library(self) -> LibraryPage:
        from app.ui.pages.library import LibraryPage

        page = LibraryPage(self.window)
        page.discoverRequested.connect(lambda: self.window.show_page("discover"))
        return page

    def _make_settings(self) -> SettingsPage:
        from app.ui.pages.settings_page import SettingsPage

        page = SettingsPage(self.window)
        page.changed.connect(self._settings_changed)
        return page

    # -- wiring --------------------------------------------------------------------------
    def resume_downloads(self) -> None:
        """Continue what an earlier run left in the queue (skipped while offline)."""
        from app.core.downloads import queue_path

        if self._downloads is not None or queue_path().exists():
            self.downloads.start()

    def _download_finished(self, job: DownloadJob) -> None:
        if self.library_holder.page is not None:
            self.library_holder.page.mark_dirty()
        downloaded = translate("models", "{file} is downloaded: it is in your Library.")
        self.window.statusBar().showMessage(downloaded.format(file=job.filename), 10_000)

    def _model_loaded(self, _outcome: object) -> None:
        """Every model the user opens stays in the Library, wherever its file is."""
        path = self.window.model_path
        if path is None:
            return

        def remember(_progress: ProgressFn, _cancel: CancelToken) -> None:
            from app.core.library import mark_used

            mark_used(path)

        def remembered() -> None:
            if self.library_holder.page is not None:
                self.library_holder.page.mark_dirty()

        run_task(remember, name="mark-used", on_finished=remembered)

    def _settings_changed(self, name: str) -> None:
        if name == "token":
            if self.discover_holder.page is not None:
                self.discover_holder.page.apply_settings()
            if self._downloads is not None:
                self._downloads.start()  # a job that waited for a token may go on
        library = self.library_holder.page
        rescan = ("models_dir", "extra_model_dirs", "scan_other_apps", "default_context")
        if library is not None and name in rescan:
            if name == "default_context":
                library.fits.clear()
            library.mark_dirty()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        closing = watched is self.window and event.type() == QEvent.Type.Close
        if closing and self._downloads is not None:
            self._downloads.shutdown()  # the running job stays queued for next time
        return False


def install_models_pages(window: MainWindow) -> ModelsArea:
    """Discover and Library on the rail (Settings comes last: `install_settings_page`)."""
    area = ModelsArea(window)
    window.add_page("discover", translate("models", "Discover"), area.discover_holder)
    window.add_page("library", translate("models", "Library"), area.library_holder)
    window.models_area = area  # the window, tests and screenshots reach it
    QTimer.singleShot(RESUME_DELAY_MS, area.resume_downloads)
    return area


def install_settings_page(window: MainWindow) -> None:
    """Settings at the end of the rail, after every area's pages."""
    area: ModelsArea | None = getattr(window, "models_area", None)
    if area is None:
        area = install_models_pages(window)
    window.add_page("settings", translate("models", "Settings"), area.settings_holder)
