"""Demo only: read the newest e-mail in the embedded Maildir, as the guest would in
their own mail program. Lets a demo continue in one terminal."""

from __future__ import annotations

import mailbox
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from core.i18n import _
from tui.widgets import plain


def newest_mail(maildir: Path, to: str | None = None) -> str | None:
    if not (maildir / "new").exists():
        return None
    box = mailbox.Maildir(maildir, create=False)
    found = []
    for key in box.keys():
        message = box[key]
        if to and message["To"] != to:
            continue
        found.append(((maildir / "new" / key).stat().st_mtime_ns, message))
    if not found:
        return None
    message = max(found, key=lambda pair: pair[0])[1]
    body = message.get_payload(decode=True) or b""
    head = f"From: {message['From']}\nTo: {message['To']}\nSubject: {message['Subject']}\n\n"
    return head + body.decode(message.get_content_charset() or "utf-8", "replace")


class MailPeek(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", _("Close"), id="close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="picker"):
            yield Static(_("Demo mailbox: the newest e-mail"), markup=False, classes="heading")
            yield Static(plain(self.text, multiline=True), id="mail")
        yield Footer()
