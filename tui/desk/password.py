"""A new password, from the desk (F2 in the inbox): the current one, the new one twice.

The change runs in a worker (Argon2id, twice); the session goes on with the new wrap
(core.desk.Desk.change_password), and every other session of this account must log in
again with the new password (core.session).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from core.desk import Desk
from core.i18n import _
from tui.base import BaseScreen
from tui.footer import QuietFooter


class PasswordScreen(BaseScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", _("Back"), id="back")]

    @dataclass
    class Changed(Message):
        pass

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk

    def compose(self) -> ComposeResult:
        with Vertical(id="password-change"):
            yield Static(_("A new password for {email}").format(email=self.desk.staff.email))
            yield Label(_("Your current password"))
            yield Input(id="current", password=True)
            yield Label(_("The new password"))
            yield Input(id="new", password=True)
            yield Label(_("The new password again"))
            yield Input(id="again", password=True)
            yield Static("", id="error", markup=False)
            yield Button(_("Change the password"), id="change", variant="primary")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.query_one("#current", Input).focus()

    @on(Input.Submitted, "#current")
    def _to_new(self) -> None:
        self.query_one("#new", Input).focus()

    @on(Input.Submitted, "#new")
    def _to_again(self) -> None:
        self.query_one("#again", Input).focus()

    @on(Input.Submitted, "#again")
    @on(Button.Pressed, "#change")
    def submit(self) -> None:
        current = self.query_one("#current", Input).value
        new = self.query_one("#new", Input).value
        if new != self.query_one("#again", Input).value:
            self.show_failure(_("The new passwords differ."))
            self.query_one("#new", Input).focus()
            return
        self.query_one("#error", Static).update(_("Checking…"))
        self.change(current, new)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def change(self, current: str, new: str) -> None:
        self.desk.change_password(current, new)
        self.post_message(self.Changed())

    def show_failure(self, text: str) -> None:
        self.query_one("#error", Static).update(text)

    @on(Changed)
    def _changed(self) -> None:
        self.app.notify(_("Your password is changed. The old one no longer works."))
        self.app.pop_screen()
