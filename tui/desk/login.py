"""The desk's log-in: e-mail, password and the authenticator's code, checked in a worker.

The first screen of ``veilig desk``: it imports the desk service and the other screens
only when they are needed (log-in, inbox), so that it is drawn sooner. Started for one
account (``veilig desk --email``: over SSH, the account the staff key opens), it shows
that address and has no field for another: the log-in is for that account only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from core.context import Context
from core.errors import LoginFailed, RateLimited, VeiligError
from core.i18n import _
from tui.base import BaseScreen
from tui.widgets import LiteralInput, footer_after_first_frame, plain

if TYPE_CHECKING:
    from core.desk import Desk


class LoginScreen(BaseScreen):
    BINDINGS = [
        Binding("ctrl+q", "app.quit", _("Quit"), id="quit"),
        # Enter in a field moves on before the keys after it are handed out (see
        # VeiligApp's Tab): a code typed right after the password lands in its own field.
        Binding("enter", "next_field", show=False, priority=True),
    ]

    @dataclass
    class LoggedIn(Message):
        desk: Desk

    def __init__(self, ctx: Context, org_name: str, email: str = "") -> None:
        super().__init__()
        self.ctx = ctx
        self.org_name = org_name
        self.email = email  # over SSH: the account the SSH key belongs to, fixed

    def compose(self) -> ComposeResult:
        with Vertical(id="login"):
            yield Static(_("veilig desk · {org}").format(org=self.org_name), markup=False)
            yield Label(_("E-mail"))
            if self.email:
                yield Static(plain(self.email), id="account")
            else:
                yield LiteralInput(id="email", placeholder="desk@example.nl")
            yield Label(_("Password"))
            yield Input(id="password", password=True, max_length=self.ctx.policy.field_max_chars)
            yield Label(_("Code from your authenticator app"))
            yield LiteralInput(id="totp", placeholder="123456", max_length=8)
            yield Static("", id="error", markup=False)
            # The button comes with the key bar, once the first frame is written: its CSS
            # is the costliest of the form's (~8 ms), and Enter in the code field logs in
            # as the button does (docs/PERFORMANCE.md, *Start-up*).

    def on_mount(self) -> None:
        self.query_one("#password" if self.email else "#email", Input).focus()
        footer_after_first_frame(self, self._mount_button)

    def _mount_button(self) -> None:
        form = self.query_one("#login", Vertical)
        if not form.query("#login-button"):
            form.mount(Button(_("Log in"), id="login-button", variant="primary"))

    def action_next_field(self) -> None:
        following = {"email": "#password", "password": "#totp"}
        focused = self.focused
        if not (isinstance(focused, Input) and focused.id in following):
            raise SkipAction()  # Enter does what it does there (log in, press)
        self.set_focus(self.query_one(following[focused.id], Input))  # now, not after a refresh

    @on(Input.Submitted, "#totp")
    @on(Button.Pressed, "#login-button")
    def submit(self) -> None:
        self.query_one("#error", Static).update(_("Checking…"))
        self.log_in(
            self.email or self.query_one("#email", Input).value,
            self.query_one("#password", Input).value,
            self.query_one("#totp", Input).value,
        )

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def log_in(self, email: str, password: str, code: str) -> None:
        from core.desk import Desk

        self.post_message(self.LoggedIn(Desk.login(self.ctx, email, password, code)))

    def explain(self, error: VeiligError) -> str:
        if isinstance(error, RateLimited):
            return _("Too many failed attempts. Please wait 15 minutes and try again.")
        if isinstance(error, LoginFailed):
            return _("E-mail, password or code is not right. Please try again.")
        return super().explain(error)

    def recover(self) -> None:
        totp = self.query_one("#totp", Input)
        totp.value = ""  # a TOTP code is single use: the password stays, the code goes
        totp.focus()

    def show_failure(self, text: str) -> None:
        self.query_one("#error", Static).update(text)

    @on(LoggedIn)
    def _logged_in(self, logged_in: LoggedIn) -> None:
        from tui.desk.inbox import InboxScreen

        self.app.switch_screen(InboxScreen(logged_in.desk))

    def lock_screen(self) -> LoginScreen:
        """After the idle time: a fresh log-in; the Desk (and its key) is dropped."""
        return LoginScreen(self.ctx, self.org_name, self.email)
