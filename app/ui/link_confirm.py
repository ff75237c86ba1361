"""Links in answers open in the browser only after the user confirms, seeing the full address.

A model can write any link, and the words it shows need not match where the link goes. So a
click on a web link in an answer asks first, showing the whole address as it will be sent
(host in its ASCII form, so a look-alike address is visible), and opens it only on "Open in
browser". The dialog is window-modal and shown with `open()`: the GUI thread never waits in a
nested event loop. Links of other kinds (the answer's sources are their own widgets, see
pages/citations.py; code blocks' "Copy" is handled in the message) are not opened from here.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.i18n import translate

log = logging.getLogger("enclave.ui.links")

WEB_SCHEMES = ("http", "https")


def full_address(url: QUrl) -> str:
    """The address exactly as the browser will get it (encoded; an IDN host as punycode)."""
    return url.toString(QUrl.ComponentFormattingOption.FullyEncoded)


class LinkConfirm(QMessageBox):
    """Asks "Open this address in your browser?" with the full address; opens it on yes."""

    def __init__(self, url: QUrl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.url = url
        self.setObjectName("linkConfirm")
        self.setWindowTitle(translate("link_confirm", "Open a link from the answer?"))
        self.setIcon(QMessageBox.Icon.Question)
        self.setTextFormat(Qt.TextFormat.PlainText)  # the address is shown, never rendered
        self.setText(
            translate("link_confirm", "The answer links to this address. Open it in your web browser?")
        )
        self.setInformativeText(full_address(url))
        self.open_button = self.addButton(
            translate("link_confirm", "Open in browser"), QMessageBox.ButtonRole.AcceptRole
        )
        self.cancel_button = self.addButton(
            translate("link_confirm", "Cancel"), QMessageBox.ButtonRole.RejectRole
        )
        self.setDefaultButton(self.cancel_button)  # Enter alone never opens it
        self.setEscapeButton(self.cancel_button)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.buttonClicked.connect(self._clicked)

    def _clicked(self, button: object) -> None:
        if button is self.open_button:
            log.info("opening a link from an answer in the browser")
            QDesktopServices.openUrl(self.url)


def ask_to_open(url: QUrl, parent: QWidget | None) -> LinkConfirm | None:
    """A web link: ask (returns the dialog, already shown). Anything else: nothing happens."""
    if url.scheme().lower() not in WEB_SCHEMES or not url.isValid() or not url.host():
        log.info("ignored a link of kind %r in an answer", url.scheme())
        return None
    dialog = LinkConfirm(url, parent)
    dialog.open()
    return dialog
