"""The one question about a Hugging Face token that another program left on this computer.

Enclave never uses such a token on its own (app/core/net/tokens.py). When one is there
(`HF_TOKEN`, or the token file that `hf auth login` writes), no token is saved in Enclave and the
user has not answered yet, the window asks once, plainly, and remembers the answer in the
settings (`other_hf_token`: "use" or "ignore"). Closing the question without a choice counts as
"don't use it": asked once means once. The lookup runs off the GUI thread (the keyring may be
slow); the token's value never reaches the GUI, only where it was found.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.cancel import CancelToken
from app.core.i18n import translate
from app.ui.tasks import ProgressFn, run_task

if TYPE_CHECKING:
    from app.core.settings import SettingsStore

log = logging.getLogger("enclave.ui.token")


class OtherTokenQuestion(QMessageBox):
    def __init__(self, where: str, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.core.net.tokens import OTHER_TOKEN_IGNORE, OTHER_TOKEN_USE

        self.store = store
        self.setObjectName("otherTokenQuestion")
        self.setWindowTitle(
            translate("token_question", "Use your Hugging Face sign-in from another program?")
        )
        self.setIcon(QMessageBox.Icon.Question)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(
            translate(
                "token_question",
                "Another program on this computer has left a Hugging Face token (a sign-in) in "
                "{place}. Should Enclave use it?",
            ).format(place=where)
        )
        self.setInformativeText(
            translate(
                "token_question",
                "Enclave does not use it unless you say so. If you do, Enclave sends it only to "
                "Hugging Face, and only for models that need an account (models whose license you "
                "accepted there). Searches never carry it. You can also save a token of your own "
                "in Settings.",
            )
        )
        self.use_button = self.addButton(
            translate("token_question", "Use it"), QMessageBox.ButtonRole.YesRole
        )
        self.ignore_button = self.addButton(
            translate("token_question", "Don't use it"), QMessageBox.ButtonRole.NoRole
        )
        self.setDefaultButton(self.ignore_button)
        self.setEscapeButton(self.ignore_button)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._answers = {self.use_button: OTHER_TOKEN_USE, self.ignore_button: OTHER_TOKEN_IGNORE}
        self.finished.connect(self._answered)

    def _answered(self, _result: int) -> None:
        from app.core.net.tokens import OTHER_TOKEN_IGNORE

        answer = self._answers.get(self.clickedButton(), OTHER_TOKEN_IGNORE)  # type: ignore[call-overload]
        try:
            self.store.update(other_hf_token=answer)
        except OSError:  # not saved: it still applies while the app runs
            log.warning("could not save the answer about another program's token")


def ask_about_other_token(store: SettingsStore, parent: QWidget, shown: list[QMessageBox]) -> None:
    """Look (off the GUI thread) and ask if there is something to ask; the dialog goes in `shown`."""
    if store.current.other_hf_token:
        return

    def look(_progress: ProgressFn, _cancel: CancelToken) -> str | None:
        from app.core import secrets
        from app.core.net.tokens import other_token

        found = other_token()
        if found is None or secrets.has_token():
            return None
        return found[0]  # where it is, never the token

    def ask(where: str | None) -> None:
        if where is None or store.current.other_hf_token:
            return
        question = OtherTokenQuestion(where, store, parent)
        shown.append(question)
        question.open()

    run_task(look, name="other-token", on_result=ask)
