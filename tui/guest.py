"""``veilig guest``: what a practitioner sees first over SSH as user ``guest``.

One question: write to the organisation (the starter, flow 1), or open a secure
message that it sent (flows 2 and 3, with the reference from the e-mail).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Static

from core.context import Context
from core.i18n import _
from tui.base import BaseScreen
from tui.footer import QuietFooter
from tui.widgets import plain


class GuestChoiceScreen(BaseScreen):
    BINDINGS = [
        Binding("1", "write", _("Write to us"), id="write"),
        Binding("2", "open", _("Open a message"), id="open"),
    ]

    @dataclass
    class Chosen(Message):
        """The dialog chosen; the app shows it in place of this one (and the idle lock
        asks it, not this screen, what to do)."""

        screen: Screen[None]

    def __init__(self, ctx: Context, org_name: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.org_name = org_name

    def compose(self) -> ComposeResult:
        yield Static(
            _("veilig · secure mail with {org}").format(org=self.org_name), id="title", markup=False
        )
        with Vertical(id="choice"):
            welcome = _("Welcome. What would you like to do? Press 1 or 2.")
            yield Static(welcome, markup=False)
            write = _("1  Write a secure message to {org}").format(org=self.org_name)
            yield Button(plain(write), id="write")
            yield Button(_("2  Open a secure message you received"), id="open")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.query_one("#write", Button).focus()

    @on(Button.Pressed, "#write")
    def action_write(self) -> None:
        from core.starter import Starter
        from tui.starter import StarterScreen

        self.post_message(self.Chosen(StarterScreen(Starter(self.ctx), self.org_name)))

    @on(Button.Pressed, "#open")
    def action_open(self) -> None:
        from core.recipient import Recipient
        from tui.recipient import RecipientScreen

        self.post_message(self.Chosen(RecipientScreen(Recipient(self.ctx), self.org_name)))
