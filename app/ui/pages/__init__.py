"""Pages beside Chat on the window's rail. Each area owns its module under app/ui/pages/ and
adds itself here; page modules import heavy libraries (huggingface_hub, numpy) lazily, inside
the functions that need them, so the window still opens in well under a second."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


def install_pages(window: MainWindow) -> None:
    """Called once by MainWindow after the Chat page exists."""
    from app.ui.pages.models import install_models_pages  # Discover, Library

    install_models_pages(window)
    from app.core.i18n import translate
    from app.ui.pages.documents import DocumentsPage

    window.add_page("documents", translate("__init__", "Documents"), DocumentsPage(window))
    from app.ui.pages.models import install_settings_page  # last on the rail

    install_settings_page(window)
