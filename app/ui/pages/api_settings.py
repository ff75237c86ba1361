"""Settings -> "Other programs": lets programs on this computer use the loaded model through an
OpenAI-compatible API (off by default), and shows what they need: the base URL and the key.

The running server belongs to app.core.api.controller.ApiController (made by the window, so the
API also serves after a restart without this page being opened): this section edits the
settings it follows and shows what it says. The key is shown in clear only when it is new;
afterwards Copy still copies it.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.api.controller import API_SETTINGS, LOOPBACK
from app.core.i18n import translate, translate_noop
from app.ui.observe import observe

log = logging.getLogger("enclave.ui.api_settings")

EVERYWHERE = "0.0.0.0"
NETWORK_WARNING = translate_noop(
    "api_settings",
    "Other computers on your network can then use the model if they have the key, and what "
    "they send travels unencrypted. Turn this on only on a network you trust.",
)


class ApiSettingsSection(QWidget):
    def __init__(self, settings_store: Any, controller: Any, parent: QWidget | None = None) -> None:
        """controller: the window's ApiController (app/core/api/controller.py)."""
        super().__init__(parent)
        self.setObjectName("apiSettings")
        self.store = settings_store
        self.controller = controller
        self._key = controller.key
        self._build()
        self._show_settings()
        self._show_state(controller.state)
        observe(settings_store.changed, self, self._settings_changed)
        observe(controller.state_changed, self, self._on_state)
        observe(controller.key_changed, self, self._set_key)

    @property
    def server(self) -> Any:
        """The running ApiServer (the controller's), or None."""
        return self.controller.server

    # ---- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel(translate("api_settings", "Other programs"))
        title.setObjectName("modelsSection")
        layout.addWidget(title)
        self.enable_check = QCheckBox(
            translate(
                "api_settings", "Let other programs on this computer use the model (OpenAI-compatible API)"
            )
        )
        self.enable_check.setObjectName("apiEnable")
        self.enable_check.toggled.connect(lambda on: self._update(api_enabled=bool(on)))
        layout.addWidget(self.enable_check)
        from app.core.policy_rules import api_refusal
        from app.ui.policy_view import lock_note

        # The organisation's allow_api / api_hosts: the switches stay off, and say why.
        self.api_forbidden = api_refusal(LOOPBACK)
        self.network_forbidden = self.api_forbidden or api_refusal(EVERYWHERE)
        if self.api_forbidden:
            layout.addWidget(lock_note(self.api_forbidden))
        hint = QLabel(
            translate(
                "api_settings",
                "Programs written for OpenAI (editors, scripts, chat apps) can then ask the model that "
                "is loaded here. Your own questions in this window always go first.",
            )
        )
        hint.setObjectName("modelsHint")
        hint.setWordWrap(True)
        layout.addWidget(hint)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.port_spin = QSpinBox()
        self.port_spin.setObjectName("apiPort")
        self.port_spin.setRange(1024, 65535)
        self.port_spin.setKeyboardTracking(False)  # apply the number typed, not each digit
        self.port_spin.setMaximumWidth(110)
        self.port_spin.valueChanged.connect(lambda value: self._update(api_port=int(value)))
        form.addRow(translate("api_settings", "Port:"), self.port_spin)
        url_row = QHBoxLayout()
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("apiUrl")
        self.url_edit.setAccessibleName(translate("api_settings", "Address other programs use"))
        self.url_edit.setReadOnly(True)
        self.copy_url_button = QPushButton(translate("api_settings", "Copy"))
        self.copy_url_button.clicked.connect(
            lambda: self._copy(self.url_edit.text(), translate("api_settings", "Address copied."))
        )
        url_row.addWidget(self.url_edit, 1)
        url_row.addWidget(self.copy_url_button)
        form.addRow(translate("api_settings", "Base URL:"), url_row)
        key_row = QHBoxLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("apiKey")
        self.key_edit.setAccessibleName(translate("api_settings", "Key other programs use"))
        self.key_edit.setReadOnly(True)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.copy_key_button = QPushButton(translate("api_settings", "Copy"))
        self.copy_key_button.clicked.connect(
            lambda: self._copy(self._key, translate("api_settings", "Key copied."))
        )
        self.new_key_button = QPushButton(translate("api_settings", "New key"))
        self.new_key_button.setToolTip(
            translate("api_settings", "Make a new key; programs using the old one must get the new one.")
        )
        self.new_key_button.clicked.connect(self.new_key)
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.copy_key_button)
        key_row.addWidget(self.new_key_button)
        form.addRow(translate("api_settings", "API key:"), key_row)
        layout.addLayout(form)
        self.key_note = QLabel("")
        self.key_note.setObjectName("modelsHint")
        self.key_note.setWordWrap(True)
        layout.addWidget(self.key_note)

        self.network_check = QCheckBox(translate("api_settings", "Allow other computers on the network"))
        self.network_check.setObjectName("apiNetwork")
        self.network_check.toggled.connect(
            lambda on: self._update(api_host=EVERYWHERE if on else LOOPBACK)
        )
        layout.addWidget(self.network_check)
        if self.network_forbidden and not self.api_forbidden:
            layout.addWidget(
                lock_note(
                    translate(
                        "api_settings",
                        "Your organisation allows the API on this computer only, not on the network.",
                    )
                )
            )
        self.network_warning = QLabel(translate("api_settings", NETWORK_WARNING))
        self.network_warning.setObjectName("documentsNote")
        self.network_warning.setProperty("level", "warning")
        self.network_warning.setWordWrap(True)
        layout.addWidget(self.network_warning)
        self.state_label = QLabel("")
        self.state_label.setObjectName("apiState")
        self.state_label.setWordWrap(True)
        layout.addWidget(self.state_label)

    # ---- settings <-> widgets ------------------------------------------------------------
    def _show_settings(self) -> None:
        settings = self.store.current
        for widget in (self.enable_check, self.port_spin, self.network_check):
            widget.blockSignals(True)
        self.enable_check.setChecked(settings.api_enabled and not self.api_forbidden)
        self.enable_check.setEnabled(not self.api_forbidden)
        self.port_spin.setValue(int(settings.api_port))
        wide = settings.api_host not in (LOOPBACK, "localhost", "::1", "")
        self.network_check.setChecked(wide and not self.network_forbidden)
        self.network_check.setEnabled(not self.network_forbidden)
        for widget in (self.enable_check, self.port_spin, self.network_check):
            widget.blockSignals(False)
        self.network_warning.setVisible(self.network_check.isChecked())
        self._show_url()
        has_key = bool(self._key)
        self.copy_url_button.setEnabled(settings.api_enabled)
        for button in (self.copy_key_button, self.new_key_button):
            button.setEnabled(settings.api_enabled and has_key)

    def _show_url(self) -> None:
        if self.server is not None and self.server.running:
            self.url_edit.setText(self.server.base_url)
        else:
            self.url_edit.setText(f"http://{LOOPBACK}:{self.store.current.api_port}/v1")

    def _update(self, **changes: Any) -> None:
        try:
            self.store.update(**changes)
        except OSError as exc:
            not_saved = translate("api_settings", "Could not save the settings: {error}")
            self._show_state(not_saved.format(error=exc.strerror or exc))
        except ValueError as exc:
            self._show_state(str(exc))

    def _settings_changed(self, names: set[str]) -> None:
        if names & API_SETTINGS:
            self._show_settings()

    def _on_state(self, text: str) -> None:
        self._show_state(text)
        self._show_settings()

    def _show_state(self, text: str) -> None:
        self.state_label.setText(text)

    # ---- the key -------------------------------------------------------------------------
    def _set_key(self, key: str, new: bool, saved: bool) -> None:
        self._key = key
        self.key_edit.setText(key)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Normal if new else QLineEdit.EchoMode.Password)
        if new and saved:
            self.key_note.setText(
                translate("api_settings", "A new key: copy it now into the programs that will use Enclave.")
            )
        elif new:
            self.key_note.setText(
                translate(
                    "api_settings",
                    "A new key. Your computer's password store could not keep it, so it works until "
                    "Enclave closes.",
                )
            )
        else:
            self.key_note.setText(
                translate("api_settings", "Programs send this key with each request. Copy copies it.")
            )

    def new_key(self) -> None:
        """Make a new key; the running server accepts only the new one from now on."""
        self.controller.new_key()

    def _copy(self, text: str, said: str) -> None:
        if not text:
            return
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(text)
        self.key_note.setText(said)
