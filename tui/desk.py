"""``veilig desk``: the support desk. Log in, inbox, read and reply, new secure message,
*Sent* with revoke. The unlocked mailbox key lives in the ``Desk`` object only."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static, TextArea

from core.context import Context
from core.desk import Contact, Desk, InboxRow, SentRow, ThreadView
from core.display import literal
from core.errors import CannotOpen, InvalidInput, LoginFailed, RateLimited, VeiligError
from core.i18n import _, format_datetime
from core.models import Direction, Method
from core.sealing import Draft, OpenedMessage, check_attachments
from core.stream import ContentKey
from tui.chat import ChatScreen, explain
from tui.widgets import AttachmentList, LiteralInput, LiteralTextArea, plain

CELL_WIDTH = 40  # a stranger's 500-character name must not push the other columns away


def cell(text: str) -> Text:
    """A table cell from other people's text: literal, never markup, and at most
    CELL_WIDTH wide (the whole text is in the conversation itself)."""
    shown = literal(text)
    if len(shown) > CELL_WIDTH:
        shown = shown[: CELL_WIDTH - 1] + "…"
    return Text(shown)


def when(moment: datetime | None) -> str:
    return format_datetime(moment) if moment else "—"


def short(moment: datetime | None) -> str:
    """Day, month and time: enough for the Sent overview, and it fits 80 columns."""
    return moment.astimezone().strftime("%d-%m %H:%M") if moment else "—"


# --- log in -----------------------------------------------------------------------------


class LoginScreen(Screen[None]):
    BINDINGS = [Binding("ctrl+q", "app.quit", _("Quit"), id="quit")]

    def __init__(self, ctx: Context, org_name: str, email: str = "") -> None:
        super().__init__()
        self.ctx = ctx
        self.org_name = org_name
        self.email = email  # over SSH: the account the SSH key belongs to

    def compose(self) -> ComposeResult:
        with Vertical(id="login"):
            yield Static(_("veilig desk · {org}").format(org=self.org_name), markup=False)
            yield Label(_("E-mail"))
            yield LiteralInput(id="email", placeholder="desk@example.nl")
            yield Label(_("Password"))
            yield Input(id="password", password=True)
            yield Label(_("Code from your authenticator app"))
            yield LiteralInput(id="totp", placeholder="123456", max_length=8)
            yield Static("", id="error", markup=False)
            yield Button(_("Log in"), id="login-button", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        if self.email:
            self.query_one("#email", Input).value = self.email
            self.query_one("#password", Input).focus()
        else:
            self.query_one("#email", Input).focus()

    @on(Input.Submitted, "#email")
    def _to_password(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
    def _to_totp(self) -> None:
        self.query_one("#totp", Input).focus()

    @on(Input.Submitted, "#totp")
    @on(Button.Pressed, "#login-button")
    def submit(self) -> None:
        self.query_one("#error", Static).update(_("Checking…"))
        self.log_in(
            self.query_one("#email", Input).value,
            self.query_one("#password", Input).value,
            self.query_one("#totp", Input).value,
        )

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def log_in(self, email: str, password: str, code: str) -> None:
        try:
            desk = Desk.login(self.ctx, email, password, code)
        except RateLimited:
            self.app.call_from_thread(
                self._failed, _("Too many failed attempts. Please wait 15 minutes and try again.")
            )
            return
        except LoginFailed:
            self.app.call_from_thread(
                self._failed, _("E-mail, password or code is not right. Please try again.")
            )
            return
        self.app.call_from_thread(self._logged_in, desk)

    def _failed(self, text: str) -> None:
        self.query_one("#error", Static).update(text)
        totp = self.query_one("#totp", Input)
        totp.value = ""  # a TOTP code is single use: the password stays, the code goes
        totp.focus()

    def _logged_in(self, desk: Desk) -> None:
        self.app.switch_screen(InboxScreen(desk))

    def lock_screen(self) -> LoginScreen:
        """After the idle time: a fresh log-in; the Desk (and its key) is dropped."""
        screen = LoginScreen(self.ctx, self.org_name, self.email)
        return screen


# --- inbox ------------------------------------------------------------------------------


INBOX_PAGE = 50  # conversations per page of the inbox; ← and → turn the pages


class InboxScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", _("Open"), id="open", show=True),
        Binding("ctrl+n", "compose", _("New message"), id="new"),
        Binding("ctrl+t", "sent", _("Sent"), id="sent"),
        Binding("f5", "refresh", _("Refresh"), id="refresh"),
        # priority: the table would take ← and → for its (row) cursor otherwise.
        Binding("left", "newer", _("Newer"), id="newer", priority=True),
        Binding("right", "older", _("Older"), id="older", priority=True),
        Binding("ctrl+q", "app.quit", _("Lock and quit"), id="quit"),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk
        self.rows: list[InboxRow] = []
        self.away = False
        self.page_start = 0  # of the page shown, newest first
        self.has_older = False  # older conversations than this page exist

    def compose(self) -> ComposeResult:
        yield Static(
            _("Inbox · {staff}").format(staff=self.desk.staff.email), id="title", markup=False
        )
        yield DataTable(id="inbox", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def on_screen_suspend(self) -> None:
        self.away = True

    def on_screen_resume(self) -> None:
        # Reload when the screen comes back, not when it is first shown: that resume
        # comes with the mount, and loading on both built and painted the table twice.
        if self.away:
            self.load()

    def action_refresh(self) -> None:
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "newer":
            return self.page_start > 0
        if action == "older":
            return self.has_older
        return True

    def action_older(self) -> None:
        if self.has_older:
            self.page_start += INBOX_PAGE
            self.load()

    def action_newer(self) -> None:
        if self.page_start:
            self.page_start = max(0, self.page_start - INBOX_PAGE)
            self.load()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def load(self) -> None:
        # One row more than a page tells whether there are older conversations.
        rows = self.desk.inbox(limit=INBOX_PAGE + 1, offset=self.page_start)
        self.app.call_from_thread(self._show, rows[:INBOX_PAGE], len(rows) > INBOX_PAGE)

    def _show(self, rows: list[InboxRow], more: bool = False) -> None:
        self.rows, self.has_older = rows, more
        title = _("Inbox · {staff}").format(staff=self.desk.staff.email)
        if self.page_start or more:
            title += " · " + _("{first}–{last}").format(
                first=self.page_start + 1, last=self.page_start + len(rows)
            )
        self.query_one("#title", Static).update(title)
        self.refresh_bindings()
        labels = ("", _("Who"), _("E-mail"), _("When"), _("Files"), _("Last word"))
        lines: list[tuple[str | None, tuple[str | Text, ...]]] = [
            (
                row.conversation.id,
                (
                    "●" if row.unread else " ",
                    cell(row.who),
                    cell(row.email),
                    when(row.when),
                    str(row.attachments),
                    _("them") if row.last_direction == Direction.INBOUND else _("we"),
                ),
            )
            for row in rows
        ] or [(None, ("", _("No conversations yet."), "", "", "", ""))]
        table = self.query_one("#inbox", DataTable)
        table.clear(columns=True)
        # Each column as wide as its widest cell, measured here. DataTable's own
        # auto width is measured later, when idle, and a redraw in between could
        # leave the table drawn at the width of its labels ("Kar", "karin@").
        for n, label in enumerate(labels):
            width = max(cell_len(str(cells[n])) for _key, cells in lines)
            table.add_column(label, width=max(width, cell_len(label)))
        for key, cells in lines:
            table.add_row(*cells, key=key)
        table.focus()

    def action_open(self) -> None:
        table = self.query_one("#inbox", DataTable)
        if not self.rows or table.cursor_row >= len(self.rows):
            return
        self.app.push_screen(
            ConversationScreen(self.desk, self.rows[table.cursor_row].conversation.id)
        )

    @on(DataTable.RowSelected, "#inbox")
    def _selected(self) -> None:
        self.action_open()

    def action_compose(self) -> None:
        self.app.push_screen(ComposeScreen(self.desk))

    def action_sent(self) -> None:
        self.app.push_screen(SentScreen(self.desk))


# --- a conversation: read, save, reply ------------------------------------------------------


class ConversationScreen(ChatScreen):
    BINDINGS = [
        Binding("escape", "back", _("Back"), id="back"),
        Binding("ctrl+e", "reply", _("Reply"), id="reply"),
        Binding("ctrl+d", "save", _("Save attachments"), id="save"),
        Binding("ctrl+s", "done_writing", _("Done"), id="done"),
    ]

    def __init__(self, desk: Desk, conversation_id: str) -> None:
        super().__init__(desk.ctx, _("Conversation"))
        self.desk = desk
        self.conversation_id = conversation_id
        self.view: ThreadView | None = None
        self.step = "read"

    def on_mount(self) -> None:
        self.show_only()
        self.load()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def load(self) -> None:
        view = self.desk.thread(self.conversation_id)
        self.app.call_from_thread(self._show, view)

    def _show(self, view: ThreadView) -> None:
        self.view = view
        for participant, contact in view.participants:
            who = f"{contact.name} <{contact.email}>" if contact.name else contact.email
            if contact.phone:
                who += f", {contact.phone}"
            if participant.revoked_at:
                who += " · " + _("access revoked")
            self.chat.say(_("Conversation with {who}").format(who=who), "notice")
        for opened, _key in view.messages:
            self.show_message(opened, mine=Direction.OUTBOUND)
        if view.damaged:
            self.show_error(explain(CannotOpen("damaged")))
        has_files = any(m.attachments for m, _k in view.messages)
        hint = (
            _("Ctrl+E: reply · Ctrl+D: save attachments · Esc: back to the inbox.")
            if has_files
            else _("Ctrl+E: reply · Esc: back to the inbox.")
        )
        self.chat.say(hint, "notice")
        self.refresh_bindings()

    @property
    def messages(self) -> list[tuple[OpenedMessage, ContentKey]]:
        return self.view.messages if self.view else []

    def _recipients(self) -> str:
        if self.view and self.view.participants:
            active = [c for p, c in self.view.participants if p.revoked_at is None]
            return ", ".join(c.name or c.email for c in active) or _("nobody (access revoked)")
        first = next(
            (m for m, _k in self.messages if m.message.direction == Direction.INBOUND), None
        )
        return first.sender.name if first else _("the recipient")

    def _subject(self) -> str:
        subject = self.messages[-1][0].subject if self.messages else ""
        return (
            subject
            if subject.lower().startswith("re:")
            else _("Re: {subject}").format(subject=subject)
        )

    def set_step(self, step: str) -> None:
        self.step = step
        widgets = {
            "read": (),
            "save": ("line",),
            "body": ("body",),
            "attachments": ("line", "files"),
            "confirm": ("files", "buttons"),
            "sending": ("progress",),
        }[step]
        self.show_only(*widgets)
        if step == "save":
            self.ask_line(_("Folder to save the attachments in"), str(self.save_folder()))
        elif step == "body":
            self.body.focus()
        elif step == "attachments":
            self.ask_line(_("Path of a file to attach (Enter on an empty line: done)"))
            self.say_upload_hint()
        elif step == "confirm":
            self.send_button.focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = {
            "reply": self.step == "read" and self.view is not None,
            "save": self.step == "read" and any(m.attachments for m, _k in self.messages),
            "done_writing": self.step == "body",
        }
        return allowed.get(action, True)

    def action_back(self) -> None:
        back = {"save": "read", "body": "read", "attachments": "body", "confirm": "attachments"}
        if self.step in back:
            self.set_step(back[self.step])
        elif self.step == "read":
            self.app.pop_screen()

    def action_reply(self) -> None:
        self.chat.say(_("Write your reply. Ctrl+S when you are done."))
        self.set_step("body")

    def action_save(self) -> None:
        self.set_step("save")

    def action_done_writing(self) -> None:
        if self.step == "body":
            self.chat.say(
                _("Attach files? Type a path and press Enter; Enter on an empty line when done.")
            )
            self.set_step("attachments")

    @on(Input.Submitted, "#line")
    def answer(self, event: Input.Submitted) -> None:
        try:
            if self.step == "save":
                self.save(Path(event.value.strip() or ".").expanduser())
            elif self.step == "attachments":
                if event.value.strip():
                    self.add_attachment(event.value)
                else:
                    self.draft(self._subject()).check(self.ctx.policy)
                    self.chat.say(self.summary(self._recipients(), self._subject()))
                    self.set_step("confirm")
        except InvalidInput as exc:
            self.show_error(str(exc))

    @on(Button.Pressed, "#send")
    def send_pressed(self) -> None:
        if self.step == "confirm":
            self.set_step("sending")
            self.send_reply()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def save(self, folder: Path) -> None:
        saved = []
        try:
            for opened, key in self.messages:
                for position in range(len(opened.attachments)):
                    saved.append(self.desk.save_attachment(opened, key, position, folder))
        except VeiligError as exc:
            self.app.call_from_thread(self.show_error, explain(exc))
            return
        self.app.call_from_thread(self._saved, saved)

    def _saved(self, paths: list[Path]) -> None:
        self.chat.say(
            _("Saved:\n{paths}").format(paths="\n".join(self.shown_path(p) for p in paths)),
            "notice",
        )
        self.say_download_hint(paths)
        self.set_step("read")

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def send_reply(self) -> None:
        try:
            self.desk.reply(
                self.conversation_id, self.draft(self._subject()), self.progress_callback()
            )
        except VeiligError as exc:
            self.app.call_from_thread(self._send_failed, explain(exc))
            return
        self.app.call_from_thread(self._sent)

    def recover(self) -> None:
        if self.step == "sending":
            self.set_step("confirm")

    def _send_failed(self, text: str) -> None:
        self.set_step("confirm")
        self.show_error(text)

    def _sent(self) -> None:
        self.clear_draft()
        self.set_step("read")
        self.chat.remove_children()
        self.load()  # the thread again, with the reply in it
        self.app.notify(_("Sent securely. The recipient gets a notification e-mail."))
        self.app.deliver_outbox()  # type: ignore[attr-defined]


# --- new secure message ------------------------------------------------------------------


class ComposeScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "cancel", _("Cancel"), id="cancel"),
        Binding("ctrl+s", "send", _("Send securely"), id="send"),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk

    def compose(self) -> ComposeResult:
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
                yield LiteralInput(str(days), id="days", max_length=2, compact=True)
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
            yield LiteralInput(id="attach", compact=True)
            yield AttachmentList(id="files")
            yield Static("", id="error")
            yield Button(_("Send securely (Ctrl+S)"), id="send-button", variant="success")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#to", Input).focus()

    def _error(self, text: str) -> None:
        self.query_one("#error", Static).update(plain(text))

    def action_cancel(self) -> None:
        """Leave; but a half-written message is not thrown away without asking."""
        typed = any(i.value.strip() for i in self.query(Input) if i.id != "days")
        typed = typed or bool(self.query_one("#compose-body", TextArea).text.strip())
        typed = typed or bool(self.query_one("#files", AttachmentList).files)
        if not typed:
            self.app.pop_screen()
            return

        def decided(yes: bool | None) -> None:
            if yes:
                for attachment in self.query_one("#files", AttachmentList).files:
                    attachment.close()
                self.app.pop_screen()

        self.app.push_screen(
            ConfirmScreen(_("Discard this message? What you typed is lost.")), decided
        )

    @on(Input.Submitted, "#to, #name, #phone, #days, #subject")
    def next_field(self) -> None:
        self.focus_next()

    @on(Input.Submitted, "#attach")
    def attach(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            return
        files = self.query_one("#files", AttachmentList)
        try:
            attachment = self.desk.ctx.attachment(Path(event.value.strip()).expanduser())
        except InvalidInput as exc:
            self._error(str(exc))
            return
        try:
            check_attachments((*files.files, attachment), self.desk.ctx.policy)
        except InvalidInput as exc:
            attachment.close()
            self._error(str(exc))
            return
        files.add_file(attachment)
        event.input.value = ""
        self._error("")

    @on(Button.Pressed, "#send-button")
    def action_send(self) -> None:
        value = lambda widget_id: self.query_one(f"#{widget_id}", Input).value  # noqa: E731
        try:
            days = int(value("days")) if value("days").strip() else None
        except ValueError:
            self._error(_("Days available must be a number."))
            return
        method = self.query_one("#method", Select).value
        contact = Contact(email=value("to"), phone=value("phone"), name=value("name"))
        draft = Draft(
            subject=value("subject"),
            body=self.query_one("#compose-body", TextArea).text,
            attachments=tuple(self.query_one("#files", AttachmentList).files),
        )
        self._error(_("Sending…"))
        language = str(self.query_one("#language", Select).value) or None
        expires_in = None if days is None else timedelta(days=days)
        self.send(contact, Method(method), draft, expires_in, language)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def send(
        self,
        contact: Contact,
        method: Method,
        draft: Draft,
        expires_in: timedelta | None,
        language: str | None,
    ) -> None:
        try:
            self.desk.send_new(contact, method, draft, expires_in, language=language)
        except VeiligError as exc:
            self.app.call_from_thread(self._error, explain(exc))
            return
        self.app.call_from_thread(self._sent)

    def _sent(self) -> None:
        self.app.deliver_outbox()  # type: ignore[attr-defined]
        self.app.pop_screen()
        self.app.notify(_("Sent securely. The recipient gets a notification e-mail."))


# --- sent and revoke -------------------------------------------------------------------


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("escape", "no", _("No"), id="no"),
        Binding("y", "yes", _("Yes"), id="yes"),
        Binding("j", "yes", _("Yes"), id="ja", show=False),  # "ja" on Dutch keyboards
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(plain(self.question))
            yield Static(_("Press Y for yes, Escape for no."), markup=False)
        yield Footer()

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class SentScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", _("Back"), id="back"),
        Binding("ctrl+x", "revoke", _("Revoke"), id="revoke"),
        Binding("f5", "refresh", _("Refresh"), id="refresh"),
    ]

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk
        self.rows: list[SentRow] = []

    def compose(self) -> ComposeResult:
        yield Static(_("Sent · per recipient"), id="title", markup=False)
        yield DataTable(id="sent", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sent", DataTable)
        # What staff look for first comes first: it must fit 80 columns.
        table.add_columns(
            _("To"), _("Opened"), _("Replied"), _("Notified"), _("Status"), _("Subject")
        )
        self.load()

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def load(self) -> None:
        rows = self.desk.sent()
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[SentRow]) -> None:
        self.rows = rows
        table = self.query_one("#sent", DataTable)
        table.clear()
        now = self.desk.ctx.clock()
        for row in rows:
            opened = short(row.opened_at)
            if row.opened_at and row.verified_via:
                opened += " (" + (_("SMS") if row.verified_via is Method.SMS else _("e-mail")) + ")"
            if row.revoked_at:
                status = _("revoked {when}").format(when=short(row.revoked_at))
            elif now >= row.expires_at:
                status = _("expired")
            else:
                status = _("until {when}").format(when=short(row.expires_at)[:5])
            table.add_row(
                cell(row.contact.email),
                opened,
                short(row.replied_at),
                short(row.notified_at) if row.notified_at else _("queued"),
                status,
                cell(row.subject),
                key=row.participant.id,
            )
        table.focus()

    def action_revoke(self) -> None:
        table = self.query_one("#sent", DataTable)
        if not self.rows or table.cursor_row >= len(self.rows):
            return
        row = self.rows[table.cursor_row]
        if row.revoked_at:
            return
        question = _("Revoke access for {email}? The message can then no longer be opened.").format(
            email=row.contact.email
        )

        def decided(yes: bool | None) -> None:
            if yes:
                self.revoke(row.participant.id)

        self.app.push_screen(ConfirmScreen(question), decided)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def revoke(self, participant_id: str) -> None:
        self.desk.revoke(participant_id)
        rows = self.desk.sent()
        self.app.call_from_thread(self._show, rows)
