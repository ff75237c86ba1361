"""Settings: the Hugging Face token (kept in the OS keyring, never in a file or a log), offline
mode, the models folder, other apps' folders and the default context size.

Each change goes through the window's SettingsStore (`store.update`), the one place that saves
the settings and announces them (`store.changed`). This page shows what the store holds, also
when another part of the app changed it, and re-announces every change as its own Qt signal
`changed(name)` for the pages that listen to it (models.py) — driven by the store's event, so
a change made anywhere reaches them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.cancel import CancelToken
from app.core.i18n import translate
from app.core.plain_words import context_words
from app.ui.observe import observe
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

log = logging.getLogger("enclave.ui.settings")

CONTEXT_SIZES = [2048, 4096, 8192, 16384, 32768, 65536, 131072]
TOKEN_PAGE = "https://huggingface.co/settings/tokens"


class SettingsPage(QWidget):
    changed = Signal(str)  # the name of the setting that changed ("token": the keyring's token)

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("settingsPage")
        self.window_ = window
        self.store = window.settings_store
        self.has_token: bool | None = None
        self._token_checked = False
        self._build()
        self.load()
        observe(self.store.changed, self, self._on_store_changed)

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(10)
        title = QLabel(translate("settings_page", "Settings"))
        title.setObjectName("modelsTitle")
        layout.addWidget(title)
        from app.ui.policy_view import PolicySection

        self.policy_section = PolicySection()  # what IT has set, with a lock (app/core/policy.py)
        layout.addWidget(self.policy_section)
        from app.ui.pages.language_setting import LanguageSection

        self.language_section = LanguageSection(self.store)
        layout.addWidget(self.language_section)

        layout.addWidget(self._section(translate("settings_page", "Hugging Face account")))
        token_help = QLabel(
            translate(
                "settings_page",
                "Some models ask you to accept their license before downloading. For those, create "
                'a “Read” token at <a href="{url}">huggingface.co/settings/tokens</a> and '
                "paste it here. It is kept in your computer's password store, never in a file.",
            ).format(url=TOKEN_PAGE)
        )
        token_help.setWordWrap(True)
        token_help.setOpenExternalLinks(True)
        token_help.setObjectName("modelsHint")
        layout.addWidget(token_help)
        row = QHBoxLayout()
        self.token_edit = QLineEdit()
        self.token_edit.setObjectName("tokenEdit")
        self.token_edit.setAccessibleName(translate("settings_page", "Hugging Face token"))
        self.token_edit.setAccessibleDescription(
            translate("settings_page", "Kept in your computer's password store, never in a file.")
        )
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("hf_…")
        self.token_edit.returnPressed.connect(self.save_token)
        self.save_token_button = QPushButton(translate("settings_page", "Save token"))
        self.save_token_button.clicked.connect(self.save_token)
        self.remove_token_button = QPushButton(translate("settings_page", "Remove token"))
        self.remove_token_button.clicked.connect(self.remove_token)
        row.addWidget(self.token_edit, 1)
        row.addWidget(self.save_token_button)
        row.addWidget(self.remove_token_button)
        layout.addLayout(row)
        self.token_status = QLabel(translate("settings_page", "Checking…"))
        self.token_status.setObjectName("tokenStatus")
        self.token_status.setWordWrap(True)
        layout.addWidget(self.token_status)
        # Another program's token (HF_TOKEN, the HF token file): never used unless chosen here or
        # in the window's one question about it (app/core/net/tokens.py).
        self.other_token_check = QCheckBox(
            translate(
                "settings_page",
                "Use a Hugging Face token another program left on this computer, for models that "
                "need an account",
            )
        )
        self.other_token_check.setObjectName("otherTokenCheck")
        self.other_token_check.toggled.connect(
            lambda on: self._set("other_hf_token", "use" if on else "ignore")
        )
        layout.addWidget(self.other_token_check)

        layout.addWidget(self._section(translate("settings_page", "Internet")))
        self.offline_check = QCheckBox(
            translate(
                "settings_page", "Offline mode: never connect to the internet (no search, no downloads)"
            )
        )
        self.offline_check.toggled.connect(lambda on: self._set("offline_mode", bool(on)))
        layout.addWidget(self.offline_check)
        self._add_internet_lock(layout)

        layout.addWidget(self._section(translate("settings_page", "Models")))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setObjectName("modelsFolder")
        self.folder_edit.setAccessibleName(translate("settings_page", "Models folder"))
        self.choose_button = QPushButton(translate("settings_page", "Choose…"))
        self.choose_button.clicked.connect(self.choose_folder)
        self.open_folder_button = QPushButton(translate("settings_page", "Open"))
        self.open_folder_button.clicked.connect(self.open_folder)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.choose_button)
        folder_row.addWidget(self.open_folder_button)
        form.addRow(translate("settings_page", "Models folder:"), folder_row)
        self._add_folder_lock(form)
        self.context_combo = QComboBox()
        self.context_combo.setMinimumWidth(180)
        self.context_combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        for size in CONTEXT_SIZES:
            self.context_combo.addItem(context_words(size), size)
        self.context_combo.currentIndexChanged.connect(
            lambda _i: self._set("default_context", int(self.context_combo.currentData()))
        )
        form.addRow(translate("settings_page", "Conversation memory:"), self.context_combo)
        from app.ui.pages.gpu_setting import GpuSection

        self.gpu_section = GpuSection(self.store, lambda: self.window_.hardware)
        form.addRow(self.gpu_section)
        layout.addLayout(form)
        context_help = QLabel(
            translate(
                "settings_page",
                "How much text a conversation can hold. Larger needs more memory; Enclave lowers "
                "it automatically when a model would not fit.",
            )
        )
        context_help.setObjectName("modelsHint")
        context_help.setWordWrap(True)
        layout.addWidget(context_help)
        self.other_apps_check = QCheckBox(
            translate(
                "settings_page",
                "Also list models from other apps (LM Studio, GPT4All, Ollama, Hugging Face cache)",
            )
        )
        self.other_apps_check.toggled.connect(lambda on: self._set("scan_other_apps", bool(on)))
        layout.addWidget(self.other_apps_check)
        self.draft_check = QCheckBox(
            translate(
                "settings_page",
                "Speed up answers with a smaller model of the same family, when the model runs on "
                "the graphics card",
            )
        )
        self.draft_check.setToolTip(
            translate(
                "settings_page",
                "Speculative decoding: the small model writes a few words ahead and the large one "
                "checks them all at once. It needs a smaller model of the "
                "same family in the Library, and applies the next time a model is loaded. On the "
                "processor alone it would be slower, so it is not used there.",
            )
        )
        self.draft_check.toggled.connect(lambda on: self._set("draft_models", bool(on)))
        layout.addWidget(self.draft_check)
        layout.addWidget(self._section(translate("settings_page", "Documents")))
        self.ocr_check = QCheckBox(
            translate("settings_page", "Read scanned pages and pictures (slower: a few seconds per page)")
        )
        self.ocr_check.setToolTip(
            translate(
                "settings_page",
                "Text recognition (OCR) runs on this computer; it applies the next time a folder "
                "is indexed.",
            )
        )
        self.ocr_check.toggled.connect(lambda on: self._set("read_scanned_pages", bool(on)))
        layout.addWidget(self.ocr_check)
        self.saved_label = QLabel("")
        self.saved_label.setObjectName("modelsHint")
        layout.addWidget(self.saved_label)
        from app.ui.pages.server_settings import ServerSettingsSection

        self.server_section = ServerSettingsSection(self.store)
        layout.addWidget(self.server_section)
        from app.ui.pages.api_settings import ApiSettingsSection

        self.api_section = ApiSettingsSection(self.store, self.window_.api)
        layout.addWidget(self.api_section)
        layout.addStretch(1)

    def _add_internet_lock(self, layout: QVBoxLayout) -> None:
        """offline_only / allow_downloads: the switch stays as IT set it, and says so."""
        from app.core.policy import current_policy
        from app.ui.policy_view import lock_note

        policy = current_policy()
        self.internet_lock: QLabel | None = None
        if policy.forces_offline:
            self.internet_lock = lock_note(
                translate(
                    "settings_page", "Your organisation keeps Enclave offline: this cannot be turned off."
                )
            )
        elif policy.forbids_downloads:
            self.internet_lock = lock_note(
                translate(
                    "settings_page",
                    "Your organisation has turned off downloads: search works, downloading does not.",
                )
            )
        if self.internet_lock is not None:
            layout.addWidget(self.internet_lock)

    def _add_folder_lock(self, form: QFormLayout) -> None:
        from app.core.policy_rules import organisation_models_folder
        from app.ui.policy_view import lock_note

        shared = organisation_models_folder()
        self.folder_lock = (
            lock_note(
                translate(
                    "settings_page",
                    "Your organisation's models come from {folder} too. Enclave only reads that folder.",
                ).format(folder=shared)
            )
            if shared is not None
            else None
        )
        if self.folder_lock is not None:
            form.addRow("", self.folder_lock)

    @staticmethod
    def _section(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("modelsSection")
        return label

    # -- values --------------------------------------------------------------------------
    def load(self) -> None:
        """Show the store's settings (no saving while the widgets are filled)."""
        settings = self.store.current
        widgets = (self.offline_check, self.other_apps_check, self.context_combo, self.ocr_check,
                   self.draft_check)
        for widget in widgets:
            widget.blockSignals(True)
        from app.core.policy import current_policy

        forced = current_policy().forces_offline
        self.offline_check.setChecked(settings.offline_mode or forced)
        self.offline_check.setEnabled(not forced)
        self.other_apps_check.setChecked(settings.scan_other_apps)
        self.ocr_check.setChecked(settings.read_scanned_pages)
        self.draft_check.setChecked(settings.draft_models)
        index = self.context_combo.findData(settings.default_context)
        if index < 0:
            self.context_combo.addItem(context_words(settings.default_context), settings.default_context)
            index = self.context_combo.count() - 1
        self.context_combo.setCurrentIndex(index)
        for widget in widgets:
            widget.blockSignals(False)
        self.folder_edit.setText(str(settings.resolved_models_dir()))
        self.other_token_check.blockSignals(True)
        self.other_token_check.setChecked(settings.other_hf_token == "use")
        self.other_token_check.blockSignals(False)

    def _set(self, name: str, value: Any) -> None:
        """One widget's change, saved by the store (which then tells everyone, this page too)."""
        try:
            changed = self.store.update(**{name: value})
        except OSError as exc:  # the value still applies while the app runs
            not_saved = translate("settings_page", "Could not save the settings: {error}")
            self.saved_label.setText(not_saved.format(error=exc.strerror or exc))
            return
        except ValueError:
            log.warning("setting %s refused a value of type %s", name, type(value).__name__)
            self.saved_label.setText(
                translate("settings_page", "That value cannot be used for this setting.")
            )
            return
        if changed:
            self.saved_label.setText(translate("settings_page", "Saved."))

    def _on_store_changed(self, names: set[str]) -> None:
        """A setting changed (here or anywhere): show it, and tell the listening pages."""
        self.load()
        for name in sorted(names):
            self.changed.emit(name)

    def choose_folder(self) -> None:
        start = str(self.store.current.resolved_models_dir())
        folder = QFileDialog.getExistingDirectory(
            self, translate("settings_page", "Choose the models folder"), start
        )
        if folder:
            self.set_models_dir(folder)

    def set_models_dir(self, folder: str) -> None:
        from pathlib import Path

        from app.core.policy_rules import shared_folder_refusal

        refusal = shared_folder_refusal(Path(folder)) if folder else None
        if refusal:  # the organisation's shared folder is read, never written: not for downloads
            self.saved_label.setText(refusal)
            return
        self._set("models_dir", folder)
        self.folder_edit.setText(str(self.store.current.resolved_models_dir()))

    def open_folder(self) -> None:
        folder = self.store.current.resolved_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- token (the keyring may be slow or ask to unlock: always on a worker) ------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.load()
        self.gpu_section.refresh()  # the hardware may have been found after the page was built
        if not self._token_checked:
            self._token_checked = True
            self.check_token()

    def check_token(self) -> None:
        def check(_progress: ProgressFn, _cancel: CancelToken) -> bool:
            from app.core.secrets import has_token

            return has_token()

        run_task(check, name="token-check", on_result=self._show_token_state)

    def _show_token_state(self, saved: bool) -> None:
        self.has_token = saved
        self.remove_token_button.setEnabled(saved)
        self.token_status.setText(
            translate("settings_page", "✓ A token is saved in your computer's password store.")
            if saved
            else translate("settings_page", "No token saved. Most models do not need one.")
        )

    def save_token(self) -> None:
        token = self.token_edit.text().strip()
        if not token:
            self.token_status.setText(translate("settings_page", "Paste your token in the box first."))
            return
        self._run_token_change(token)

    def remove_token(self) -> None:
        self._run_token_change("")

    def _run_token_change(self, token: str) -> None:
        self.save_token_button.setEnabled(False)
        self.remove_token_button.setEnabled(False)

        def change(_progress: ProgressFn, _cancel: CancelToken) -> bool:
            from app.core import secrets

            if token:
                secrets.set_token(token)
            else:
                secrets.delete_token()
            return secrets.has_token()

        def done(saved: bool) -> None:
            self.token_edit.clear()
            self.save_token_button.setEnabled(True)
            self._show_token_state(saved)
            if token and saved:
                self.token_status.setText(
                    translate("settings_page", "✓ Token saved in your computer's password store.")
                )
            elif not token:
                self.token_status.setText(translate("settings_page", "Token removed."))
            self.changed.emit("token")

        def failed(exc: Exception) -> None:
            self.save_token_button.setEnabled(True)
            self.remove_token_button.setEnabled(bool(self.has_token))
            self.token_status.setText(str(exc))  # SecretsError: plain words, no token in it

        run_task(change, name="token", on_result=done, on_error=failed)
