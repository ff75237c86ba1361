"""Settings → Language: the OS's language (when Enclave ships it), English, Deutsch, Français.

The window is translated as it is built (app/ui/language.py), so a new choice applies at the
next start; the section says so in the new language's own name and offers "Restart now".
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from PySide6.QtCore import QProcess
from PySide6.QtWidgets import QApplication, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.core.i18n import translate
from app.core.settings import SettingsStore
from app.ui import language
from app.ui.observe import observe

log = logging.getLogger(__name__)


def restart_app() -> None:
    """Start Enclave again the way it was started, then quit this one (it saves as it closes)."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    if getattr(sys, "frozen", False):
        argv = [sys.executable, *sys.argv[1:]]
    if QProcess.startDetached(argv[0], argv[1:])[0]:
        for window in QApplication.topLevelWidgets():
            window.close()
        QApplication.quit()
    else:
        log.warning("could not start Enclave again; the new language applies at the next start")


class LanguageSection(QWidget):
    def __init__(self, store: SettingsStore, restart: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.store = store
        self._restart = restart
        self.in_use = language.current_code()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        heading = QLabel(translate("language_setting", "Language"))
        heading.setObjectName("modelsSection")
        layout.addWidget(heading)
        row = QHBoxLayout()
        self.combo = QComboBox()
        self.combo.setObjectName("languageCombo")
        self.combo.setAccessibleName(translate("language_setting", "Language of the window"))
        for code, name in language.language_names():
            self.combo.addItem(name, code)
        self.combo.currentIndexChanged.connect(self._chosen)
        row.addWidget(self.combo)
        row.addStretch(1)
        layout.addLayout(row)
        notice_row = QHBoxLayout()
        self.notice = QLabel()
        self.notice.setObjectName("modelsHint")
        self.notice.setWordWrap(True)
        self.restart_button = QPushButton(translate("language_setting", "Restart now"))
        self.restart_button.setObjectName("restartForLanguage")
        self.restart_button.clicked.connect(self._restart_now)
        notice_row.addWidget(self.notice, 1)
        notice_row.addWidget(self.restart_button)
        layout.addLayout(notice_row)
        self.load()
        observe(self.store.changed, self, self._on_store_changed)

    def _restart_now(self) -> None:
        (self._restart or restart_app)()

    def load(self) -> None:
        self.combo.blockSignals(True)
        index = self.combo.findData(self.store.current.language)
        self.combo.setCurrentIndex(max(0, index))
        self.combo.blockSignals(False)
        self._show_notice()

    def _chosen(self, _index: int) -> None:
        try:
            self.store.update(language=str(self.combo.currentData()))
        except OSError as exc:
            self.notice.setText(
                translate("language_setting", "Could not save the settings: {error}").format(
                    error=exc.strerror or exc
                )
            )
            self.notice.show()

    def _on_store_changed(self, names: set[str]) -> None:
        if "language" in names:
            self.load()

    def _show_notice(self) -> None:
        wanted = language.resolve(self.store.current.language)
        pending = wanted != self.in_use
        if pending:
            name = language.SHIPPED.get(wanted, wanted)
            # In the language chosen: the person who picked it may not read the current one.
            self.notice.setText(_RESTART_SENTENCE.get(wanted, _RESTART_SENTENCE["en"]).format(language=name))
        self.notice.setVisible(pending)
        self.restart_button.setVisible(pending)


# Said in the language being switched to, so it is understood before the restart; these are
# written here rather than in the .ts files because the current translator is the old language.
_RESTART_SENTENCE = {
    "en": "Enclave will be in {language} after a restart.",
    "de": "Enclave wird nach einem Neustart auf {language} angezeigt.",
    "fr": "Enclave s'affichera en {language} après un redémarrage.",
}
