"""A new secure message from the desk (seed 2A): one form, sent with Ctrl+S.

Before it goes to an address this office never wrote to, or to a near
miss of one it knows, the desk asks once (core.guard): Y sends, Escape goes back to
the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from core.contact import Contact
from core.desk import Desk
from core.errors import InvalidInput
from core.guard import Known, RecipientCheck
from core.i18n import _
from core.models import Method
from core.sealing import Draft
from tui.base import BaseScreen
from tui.confirm import ConfirmScreen
from tui.footer import QuietFooter
from tui.text_area import LiteralTextArea
from tui.widgets import AttachmentList, LiteralInput, plain
from tui.writing import ssh_upload_hint

NEXT_ON_ENTER = ("to", "name", "phone", "days", "subject")


class ComposeScreen(BaseScreen):
    # Below 80 columns the row of method, days and language stacks (veilig.tcss): side
    # by side it cut "Language: automatic" at 60 columns.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (80, "-wide")]
    BINDINGS = [
        Binding("escape", "cancel", _("Cancel"), id="cancel"),
        Binding("ctrl+s", "send", _("Send securely"), id="send"),
        # Enter in a field moves on before the keys after it are handed out (see
        # VeiligApp's Tab), so fast typing lands in the next field, not this one.
        Binding("enter", "next_field", show=False, priority=True),
    ]

    class Sent(Message):
        """The message is stored and its notification queued."""

    @dataclass
    class Checked(Message):
        check: RecipientCheck

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk
        self.confirmed = ""  # the address the person said yes to: not asked again
        # What Ctrl+S read from the form, sent once the address is checked.
        self.ready: tuple[Contact, Method, Draft, timedelta | None, str | None] | None = None

    def compose(self) -> ComposeResult:
        # The breakpoint's class before the first frame (Textual sets it on the first
        # resize, after the wide row was drawn once at 60 columns).
        narrow = self.app.size.width < 80
        self.set_class(narrow, "-narrow")
        self.set_class(not narrow, "-wide")
        days = self.desk.ctx.policy.message_expiry_default.days
        yield Static(_("New secure message"), id="title", markup=False)
        with VerticalScroll(classes="form"):
            yield Label(_("Recipient's e-mail"))
            yield LiteralInput(id="to", placeholder="praktijk@example.nl", compact=True)
            yield Label(_("Recipient's name (optional)"))
            yield LiteralInput(id="name", compact=True)
            yield Label(_("Mobile number (for the SMS code)"))
            yield LiteralInput(id="phone", placeholder="06 12345678", compact=True)
            yield Label(_("Verification, days available and language of the e-mails"))
            with Horizontal(id="method-row"):
                yield Select(
                    [(_("Code by SMS"), Method.SMS), (_("Code by e-mail"), Method.EMAIL)],
                    value=Method.SMS,
                    allow_blank=False,
                    id="method",
                    compact=True,
                )
                with Horizontal(id="days-box"):
                    yield LiteralInput(str(days), id="days", max_length=2, compact=True)
                    # The unit beside the number: "14" alone was a riddle.
                    yield Label(_("days"), id="days-unit")
                yield Select(
                    [
                        (_("Language: automatic"), ""),
                        ("Nederlands", "nl"),
                        ("English", "en"),
                    ],
                    value="",
                    allow_blank=False,
                    id="language",
                    compact=True,
                )
            yield Label(_("Subject"))
            yield LiteralInput(id="subject", compact=True)
            yield Label(_("Message"))
            yield LiteralTextArea(id="compose-body", tab_behavior="focus", compact=True)
            yield Label(_("Attach a file: type its path and press Enter (Delete removes one)"))
            transfer = self.desk.ctx.transfer
            if transfer is not None and not transfer.in_browser:
                # Over SSH the files are on the person's own computer: say how they come.
                then = _("Then type the file's name in the field below.")
                hint = ssh_upload_hint(transfer, then)
                yield Static(plain(hint, multiline=True), id="upload-hint")
            yield LiteralInput(id="attach", compact=True)
            yield AttachmentList(id="files")
            yield Static("", id="error")
            yield Button(_("Send securely (Ctrl+S)"), id="send-button", variant="success")
        yield QuietFooter()

    @property
    def files(self) -> AttachmentList:
        return self.query_one("#files", AttachmentList)

    def on_mount(self) -> None:
        self.query_one("#to", Input).focus()

    def say(self, text: str) -> None:
        """One line above the send button: what is wrong, or that it is sending."""
        self.query_one("#error", Static).update(plain(text))

    def show_failure(self, text: str) -> None:
        self.say(text)

    def unsent(self) -> bool:
        typed = any(i.value.strip() for i in self.query(Input) if i.id != "days")
        typed = typed or bool(self.query_one("#compose-body", TextArea).text.strip())
        return typed or bool(self.files.files)

    def action_cancel(self) -> None:
        """Leave; but a half-written message is not thrown away without asking."""
        if not self.unsent():
            self.app.pop_screen()
            return

        def decided(yes: bool | None) -> None:
            if yes:
                self.files.close_all()
                self.app.pop_screen()

        self.app.push_screen(
            ConfirmScreen(_("Discard this message? What you typed is lost.")), decided
        )

    def action_next_field(self) -> None:
        focused = self.focused
        if not (isinstance(focused, Input) and focused.id in NEXT_ON_ENTER):
            raise SkipAction()  # Enter does what it does there (attach, a new line, send)
        self.focus_next()

    @on(Input.Submitted, "#attach")
    def attach(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            return
        try:
            attachment = self.desk.ctx.attachment(Path(event.value.strip()).expanduser())
            added = self.files.take(attachment, self.desk.ctx.policy)
        except InvalidInput as exc:
            self.say(str(exc))
            return
        event.input.value = ""
        self.say("" if added else _("{name} is already attached.").format(name=attachment.name))

    @on(Button.Pressed, "#send-button")
    def action_send(self) -> None:
        value = lambda widget_id: self.query_one(f"#{widget_id}", Input).value  # noqa: E731
        try:
            days = int(value("days")) if value("days").strip() else None
        except ValueError:
            self.say(_("Days available must be a number."))
            return
        method = Method(str(self.query_one("#method", Select).value))  # never blank
        contact = Contact(email=value("to"), phone=value("phone"), name=value("name"))
        draft = Draft(
            subject=value("subject"),
            body=self.query_one("#compose-body", TextArea).text,
            attachments=tuple(self.files.files),
        )
        language = str(self.query_one("#language", Select).value) or None
        expires_in = None if days is None else timedelta(days=days)
        self.ready = (contact, method, draft, expires_in, language)
        self.check(contact.email)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def check(self, address: str) -> None:
        self.post_message(self.Checked(self.desk.check_recipient(address)))

    @on(Checked)
    def _checked(self, checked: Checked) -> None:
        check, ready = checked.check, self.ready
        if ready is None:
            return
        if not check.ask or check.address == self.confirmed:
            self.say(_("Sending…"))
            self.send(*ready)
            return

        def decided(yes: bool | None) -> None:
            if yes:
                self.confirmed = check.address
                self.say(_("Sending…"))
                self.send(*ready)
            else:
                self.query_one("#to", Input).focus()

        self.app.push_screen(ConfirmScreen(question(check)), decided)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def send(
        self,
        contact: Contact,
        method: Method,
        draft: Draft,
        expires_in: timedelta | None,
        language: str | None,
    ) -> None:
        self.desk.send_new(contact, method, draft, expires_in, language=language)
        self.post_message(self.Sent())

    @on(Sent)
    def _sent(self) -> None:
        self.outbox_due()
        self.app.pop_screen()
        self.app.notify(_("Sent securely. The recipient gets a notification e-mail."))


def question(check: RecipientCheck) -> str:
    """What the guard asks: the typed address, and the known one it nearly is."""
    if check.known is Known.NEAR:
        return _(
            "This office never wrote to {address}, but it did to {known}. "
            "Did you mean that one? Send to {address} anyway?"
        ).format(address=check.address, known=_(" or ").join(check.near))
    if check.known is Known.HEARD:
        return _(
            "This office never wrote to {address}; it only received messages from it. "
            "Please check the address. Send to it anyway?"
        ).format(address=check.address)
    return _(
        "This office never wrote to {address}, nor heard from it. "
        "Please check the address. Send to it anyway?"
    ).format(address=check.address)
