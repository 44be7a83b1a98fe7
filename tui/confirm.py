"""A yes/no question over the screen: Y (or J, "ja") for yes, Escape for no.

Asked before what cannot be undone: throwing a draft away (the desk's new message,
quitting any dialog with one), revoking access."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from core.i18n import _, current_language
from tui.footer import QuietFooter
from tui.widgets import plain


class ConfirmScreen(ModalScreen[bool]):
    # Y and J ("ja") both say yes; the footer shows the one the question names (the
    # bindings are made once the language is chosen, when this module is imported).
    BINDINGS = [
        Binding("escape", "no", _("No"), id="no"),
        Binding("y", "yes", _("Yes"), id="yes", show=current_language() != "nl"),
        Binding("j", "yes", _("Yes"), id="ja", show=current_language() == "nl"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(plain(self.question))
            yield Static(_("Press Y for yes, Escape for no."), markup=False)
        yield QuietFooter()

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)
