"""Settings -> Company server: answer with a model on the company's OpenAI-compatible server
instead of the one on this computer.

The switch, the address, the model and the documents choice are settings (saved through the
SettingsStore, which tells the window to switch engines); the key goes to the OS keyring, never
into settings.json. Everything that can take time (the keyring, the "Test" request) runs off
the GUI thread through app.ui.tasks.run_task.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.cancel import CancelToken
from app.core.i18n import translate, translate_noop
from app.core.settings import SettingsStore
from app.ui.observe import observe
from app.ui.tasks import ProgressFn, TaskHandle, run_task

log = logging.getLogger("enclave.ui.server_settings")

OUR_SETTINGS = {"engine_mode", "server_url", "server_model", "server_embeddings"}
KEY_SAVED_HINT = translate_noop("server_settings", "A key is saved in your computer's password store")
NO_KEY_HINT = translate_noop("server_settings", "Paste the key here (leave empty if the server needs none)")


class ServerSettingsSection(QWidget):
    def __init__(self, settings_store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("serverSettings")
        self.store = settings_store
        self.key_saved: bool | None = None  # None: not looked up yet
        self.test_task: TaskHandle | None = None
        self._key_in_flight = ""  # typed, on its way to the keyring (Test may come first)
        # Keyring reads and writes run on the pool side by side: only the newest one's answer
        # is shown (an older "no key" read must not undo a save that finished first).
        self._key_generation = 0
        self._build()
        self.load()
        observe(self.store.changed, self, self._on_store_changed)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self.key_saved is None:  # the keyring is asked only once the section is seen
            self.check_key()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        title = QLabel(translate("server_settings", "Company server"))
        title.setObjectName("modelsSection")
        layout.addWidget(title)
        hint = QLabel(
            translate(
                "server_settings",
                "Enclave can use a model on your company's server (one that speaks the OpenAI API) "
                "instead of the model on this computer. Your messages then go to that server. Your "
                "IT department can tell you its address and give you a key.",
            )
        )
        hint.setWordWrap(True)
        hint.setObjectName("modelsHint")
        layout.addWidget(hint)

        self.use_switch = QCheckBox(translate("server_settings", "Use a server instead of this computer"))
        self.use_switch.setObjectName("serverSwitch")
        self.use_switch.toggled.connect(
            lambda on: self._save(engine_mode="server" if on else "local")
        )
        layout.addWidget(self.use_switch)
        self._add_policy_lock(layout)

        form = QFormLayout()
        self.address_edit = QLineEdit()
        self.address_edit.setObjectName("serverAddress")
        self.address_edit.setPlaceholderText("http://ai-server:8000")
        self.address_edit.editingFinished.connect(self.save_address)
        form.addRow(translate("server_settings", "Address:"), self.address_edit)

        key_row = QHBoxLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("serverKey")
        self.key_edit.setAccessibleName(translate("server_settings", "Company server key"))
        self.key_edit.setAccessibleDescription(
            translate("server_settings", "Kept in your computer's password store.")
        )
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText(translate("server_settings", NO_KEY_HINT))
        self.key_edit.editingFinished.connect(self.save_key)
        self.forget_key_button = QPushButton(translate("server_settings", "Forget key"))
        self.forget_key_button.setEnabled(False)
        self.forget_key_button.clicked.connect(self.forget_key)
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.forget_key_button)
        form.addRow(translate("server_settings", "Key:"), key_row)

        model_row = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("serverModel")
        self.model_combo.setAccessibleName(translate("server_settings", "Model on the company server"))
        self.model_combo.setMinimumWidth(220)
        self.model_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model_combo.setPlaceholderText(
            translate("server_settings", "Press Test to see the server's models")
        )
        self.model_combo.currentTextChanged.connect(self._model_chosen)
        self.test_button = QPushButton(translate("server_settings", "Test"))
        self.test_button.setObjectName("serverTest")
        self.test_button.clicked.connect(self.test)
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.test_button)
        form.addRow(translate("server_settings", "Model:"), model_row)
        layout.addLayout(form)

        self.status = QLabel("")
        self.status.setObjectName("serverStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.embed_server = QRadioButton(
            translate("server_settings", "Documents: prepare them for search on the server")
        )
        self.embed_local = QRadioButton(
            translate("server_settings", "Documents: prepare them for search on this computer")
        )
        self.embed_group = QButtonGroup(self)
        self.embed_group.addButton(self.embed_server)
        self.embed_group.addButton(self.embed_local)
        self.embed_server.toggled.connect(lambda on: self._save(server_embeddings=bool(on)))
        layout.addWidget(self.embed_server)
        layout.addWidget(self.embed_local)
        embed_hint = QLabel(
            translate(
                "server_settings",
                "With the server, your documents' text is sent to it for indexing. Changing this "
                "indexes your collections again.",
            )
        )
        embed_hint.setWordWrap(True)
        embed_hint.setObjectName("modelsHint")
        layout.addWidget(embed_hint)

    def _add_policy_lock(self, layout: QVBoxLayout) -> None:
        """allowed_servers: only those servers, or none at all (the switch is then off)."""
        from app.core.policy import current_policy
        from app.ui.policy_view import lock_note

        allowed = current_policy().allowed_servers
        self.servers_forbidden = allowed == ()
        self.policy_lock = None
        if allowed is None:
            return
        self.policy_lock = lock_note(
            translate(
                "server_settings",
                "Your organisation does not allow a server: answers come from this computer only.",
            )
            if not allowed
            else translate(
                "server_settings", "Your organisation allows only these servers: {servers}."
            ).format(servers=", ".join(allowed))
        )
        layout.addWidget(self.policy_lock)

    # -- values --------------------------------------------------------------------------
    def load(self) -> None:
        """Show the store's settings (no saving while the widgets are filled)."""
        s = self.store.current
        widgets = (self.use_switch, self.address_edit, self.model_combo, self.embed_server, self.embed_local)
        for widget in widgets:
            widget.blockSignals(True)
        self.use_switch.setChecked(s.engine_mode == "server" and not self.servers_forbidden)
        self.use_switch.setEnabled(not self.servers_forbidden)
        if not self.address_edit.hasFocus():
            self.address_edit.setText(s.server_url)
        if s.server_model and self.model_combo.findText(s.server_model) < 0:
            self.model_combo.addItem(s.server_model)
        self.model_combo.setCurrentIndex(self.model_combo.findText(s.server_model))
        (self.embed_server if s.server_embeddings else self.embed_local).setChecked(True)
        for widget in widgets:
            widget.blockSignals(False)

    def _on_store_changed(self, names: set[str]) -> None:
        if names & OUR_SETTINGS:
            self.load()

    def _save(self, **changes: Any) -> bool:
        try:
            self.store.update(**changes)
        except OSError as exc:
            not_saved = translate("server_settings", "Could not save the settings: {error}")
            self.status.setText(not_saved.format(error=exc.strerror or exc))
            return False
        return True

    def save_address(self) -> None:
        from app.core.engine.base import EngineError
        from app.core.engine.remote_address import normalize_base_url

        text = self.address_edit.text().strip()
        if text == self.store.current.server_url:
            return
        if text:
            from app.core.policy_rules import server_refusal

            try:
                refusal = server_refusal(normalize_base_url(text))
            except EngineError as exc:
                refusal = exc.message
            if refusal:
                self.status.setText(refusal)
                return
        if self._save(server_url=text):
            self.status.setText("")
            self.check_key()

    def _model_chosen(self, name: str) -> None:
        if name and name != self.store.current.server_model:
            self._save(server_model=name)

    # -- the key (the keyring may be slow or ask to unlock: always on a worker) ----------
    def check_key(self) -> None:
        url = self.store.current.server_url
        self.key_saved = False  # until the keyring says otherwise
        generation = self._next_key_generation()

        def check(_progress: ProgressFn, _cancel: CancelToken) -> bool:
            from app.core.secrets import get_server_key

            return get_server_key(url) is not None

        def show(saved: bool) -> None:
            if generation == self._key_generation:
                self._show_key_state(saved)

        run_task(check, name="server-key-check", on_result=show)

    def _next_key_generation(self) -> int:
        self._key_generation += 1
        return self._key_generation

    def _show_key_state(self, saved: bool) -> None:
        self.key_saved = saved
        self.forget_key_button.setEnabled(saved)
        hint = KEY_SAVED_HINT if saved else NO_KEY_HINT
        self.key_edit.setPlaceholderText(translate("server_settings", hint))

    def save_key(self) -> None:
        key = self.key_edit.text().strip()
        if not key:
            return  # an empty box never deletes a saved key: "Forget key" does
        url = self.store.current.server_url
        if not url:
            self.status.setText(
                translate(
                    "server_settings", "Enter the server's address first: the key is kept for that server."
                )
            )
            return
        self._change_key(url, key)

    def forget_key(self) -> None:
        self._change_key(self.store.current.server_url, "")

    def _change_key(self, url: str, key: str) -> None:
        self.key_edit.clear()
        self._key_in_flight = key
        generation = self._next_key_generation()

        def change(_progress: ProgressFn, _cancel: CancelToken) -> bool:
            from app.core import secrets

            if key:
                secrets.set_server_key(url, key)
            else:
                secrets.delete_server_key(url)
            return secrets.get_server_key(url) is not None

        def done(saved: bool) -> None:
            self._key_in_flight = ""
            if generation == self._key_generation:
                self._show_key_state(saved)
            self.status.setText(
                translate("server_settings", "✓ Key saved in your computer's password store.")
                if key and saved
                else translate("server_settings", "Key forgotten.")
            )

        def failed(exc: Exception) -> None:
            self._key_in_flight = ""
            self.status.setText(str(exc))  # SecretsError: plain words, never the key

        run_task(change, name="server-key", on_result=done, on_error=failed)

    # -- Test ----------------------------------------------------------------------------
    def test(self) -> None:
        """Ask the server for its models (and the chosen model for one token), off the GUI."""
        url = self.address_edit.text().strip() or self.store.current.server_url
        if not url:
            self.status.setText(translate("server_settings", "Enter the server's address first."))
            return
        typed_key = self.key_edit.text().strip() or self._key_in_flight
        model = self.model_combo.currentText().strip()
        self.test_button.setEnabled(False)
        self.status.setText(translate("server_settings", "Testing…"))

        def work(_progress: ProgressFn, _cancel: CancelToken) -> tuple[bool, str, list[str]]:
            from app.core.engine.base import EngineError
            from app.core.engine.remote import RemoteEngine
            from app.core.secrets import get_server_key

            try:
                engine = RemoteEngine(url, typed_key or get_server_key(url), model)
            except EngineError as exc:
                return False, exc.message, []
            try:
                return engine.test_connection()
            finally:
                engine.shutdown()

        self.test_task = run_task(
            work, name="server-test", on_result=self._show_test, on_error=self._test_failed
        )

    def _show_test(self, outcome: tuple[bool, str, list[str]]) -> None:
        ok, sentence, models = outcome
        self.test_button.setEnabled(True)
        self.status.setText(("✓ " if ok else "") + sentence)
        if models:
            self.show_models(models)

    def _test_failed(self, exc: Exception) -> None:
        self.test_button.setEnabled(True)
        self.status.setText(translate("server_settings", "The test failed: {error}").format(error=exc))

    def show_models(self, models: list[str]) -> None:
        """Offer the server's models; keep the chosen one if the server has it, else choose the
        first (saved, so the window can start using the server)."""
        chosen = self.store.current.server_model
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItems(models)
        self.model_combo.setCurrentIndex(self.model_combo.findText(chosen) if chosen in models else 0)
        self.model_combo.blockSignals(False)
        self._model_chosen(self.model_combo.currentText())
