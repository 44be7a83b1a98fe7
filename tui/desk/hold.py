"""Why a conversation is kept from the purge: a short reason, typed in a modal."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from core.i18n import _
from tui.footer import QuietFooter
from tui.widgets import LiteralInput


class ReasonScreen(ModalScreen[str | None]):
    """Enter keeps the conversation with the reason typed; Escape changes nothing."""

    BINDINGS = [Binding("escape", "cancel", _("Cancel"), id="cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(
                _(
                    "Keep this conversation from the purge. Why? (a complaint, a dispute, a "
                    "request of the inspectorate). Staff see the reason; the audit log notes "
                    "who placed the hold and when."
                ),
                markup=False,
            )
            yield LiteralInput(id="reason", max_length=500)
        yield QuietFooter()

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    def _done(self, submitted: Input.Submitted) -> None:
        if submitted.value.strip():
            self.dismiss(submitted.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
