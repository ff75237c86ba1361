"""The window's language: the OS's one when Enclave ships it, or the one chosen in Settings.

Translations are Qt's own: `resources/i18n/enclave_<code>.qm`, made from the `.ts` files by
`python -m installers.i18n release`, and Qt's `qtbase_<code>.qm` for its standard buttons
(OK, Cancel in dialogs). `apply_language` installs them into the application and hands Qt's
lookup and number format to `app.core.i18n`, so core's sentences are translated too. It runs
before the first window is built: texts are translated when widgets are made, which is why a
change in Settings takes effect at the next start ("Restart now").

`ENCLAVE_LANGUAGE` overrides the setting (tests, screenshots, an IT image that fixes it).
A language written right to left (a pseudo-translation in the tests, Arabic or Hebrew one
day) turns the whole layout around with `setLayoutDirection`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator
from PySide6.QtWidgets import QApplication

from app.core import i18n, paths

log = logging.getLogger(__name__)

# Code -> the language's name in itself (what a person looks for in the list).
SHIPPED: dict[str, str] = {"en": "English", "de": "Deutsch", "fr": "Français"}
SYSTEM = "system"

_installed: list[QTranslator] = []
_in_use = "en"


def translations_dir() -> Path:
    return paths.resources_dir() / "i18n"


def resolve(setting: str) -> str:
    """The language code to use for a setting ("system", "de", ...) on this computer."""
    forced = os.environ.get("ENCLAVE_LANGUAGE", "").strip()
    if forced:
        return forced
    if setting and setting != SYSTEM:
        return setting
    return system_language()


def system_language() -> str:
    """The first shipped language in the OS's preference order ("de-CH", "fr", ...), or English."""
    for name in QLocale.system().uiLanguages():
        code = name.replace("_", "-").split("-")[0].lower()
        if code in SHIPPED:
            return code
    return "en"


def current_code() -> str:
    """The language the window is in now (what `apply_language` last installed)."""
    return _in_use


def _qt_translations() -> list[Path]:
    """Where Qt's own translations are: Qt's reported place, or PySide6's folder in a bundle."""
    import PySide6

    return [
        Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)),
        Path(PySide6.__file__).parent / "Qt" / "translations",
        Path(PySide6.__file__).parent / "translations",
    ]


def apply_language(app: QApplication | QCoreApplication, code: str, directory: Path | None = None) -> str:
    """Install `code`'s translations; returns the code in use ("en" when none could be loaded)."""
    global _in_use
    for translator in _installed:
        app.removeTranslator(translator)
    _installed.clear()
    folder = directory or translations_dir()
    locale = QLocale(code)
    in_use = code
    if code != "en":
        ours = QTranslator(app)
        if ours.load(str(folder / f"enclave_{code}.qm")):
            app.installTranslator(ours)
            _installed.append(ours)
        else:
            log.warning("no translation for %s in %s: the window stays in English", code, folder)
            in_use, locale = "en", QLocale("en")
        qt_own = QTranslator(app)
        if in_use != "en" and any(qt_own.load(f"qtbase_{code}", str(place)) for place in _qt_translations()):
            app.installTranslator(qt_own)
            _installed.append(qt_own)
    QLocale.setDefault(locale)
    if isinstance(app, QApplication):
        app.setLayoutDirection(locale.textDirection())

    def number(value: float, decimals: int) -> str:
        return QLocale().toString(float(value), "f", decimals)

    def lookup(context: str, text: str, disambiguation: str | None, n: int) -> str:
        return QCoreApplication.translate(context, text, disambiguation, n)

    i18n.install(lookup if _installed else None, number)
    # The policy's sentences (problems, locks) are written when it is read: read it again in
    # the new language, in case anything read it before this ran.
    from app.core.policy import reload_policy

    reload_policy()
    _in_use = in_use
    return in_use


def language_names() -> list[tuple[str, str]]:
    """(code, name) for the Settings list: "System (Deutsch)" first, then each shipped one."""
    system_name = SHIPPED.get(system_language(), "English")
    label = i18n.translate("language", "Same as this computer ({language})").format(language=system_name)
    return [(SYSTEM, label), *SHIPPED.items()]


def check_shipped() -> str | None:
    """German and French load, Enclave's words and Qt's buttons (the frozen self-test)."""
    app = QCoreApplication.instance() or QCoreApplication([])
    try:
        for code, settings, cancel in (("de", "Einstellungen", "Abbrechen"), ("fr", "Paramètres", "Annuler")):
            if apply_language(app, code) != code:
                return f"The {SHIPPED[code]} translation is missing from this build."
            ours = i18n.translate("settings_page", "Settings")
            qt_own = QCoreApplication.translate("QPlatformTheme", "Cancel")
            if ours != settings or qt_own != cancel:
                return f"The {code} translation loaded, but shows {ours!r} and {qt_own!r}."
    finally:
        apply_language(app, "en")
    return None
