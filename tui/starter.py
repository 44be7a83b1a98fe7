"""``veilig start``: the conversation starter (seed flow 1) as a guided chat.

Each step asks one question in a bubble and takes the answer at the bottom. The
screen holds only what was typed; every decision is a call into ``core.starter``,
run in a thread worker so that the KDF, the database and sealing never freeze it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, ProgressBar, Static, TextArea
from textual.worker import Worker, WorkerState

from core.dialog import BACK, StarterStep
from core.display import human_size, mask_email
from core.errors import CodeRejected, InvalidInput, RateLimited, VeiligError
from core.i18n import N_, _, ngettext
from core.sealing import Draft
from core.starter import PendingGuest, Starter, VerifiedGuest, check_email, check_name
from tui.file_picker import FilePicker
from tui.mail_peek import MailPeek, newest_mail
from tui.widgets import AttachmentList, ChatLog

Step = StarterStep
log = logging.getLogger(__name__)

# What the single-line input asks for, per step.
PLACEHOLDERS = {
    Step.NAME: N_("Your name"),
    Step.EMAIL: N_("Your e-mail address"),
    Step.CODE: N_("Verification code"),
    Step.SUBJECT: N_("Subject"),
    Step.ATTACHMENTS: N_("Path of a file to attach (Enter on an empty line: done)"),
}


class StarterScreen(Screen[None]):
    BINDINGS = [
        Binding(
            "escape",
            "back",
            _("Back"),
            id="back",
            tooltip=_("One step back; nothing typed is lost"),
        ),
        Binding("ctrl+r", "resend", _("New code"), id="resend", tooltip=_("E-mail a new code")),
        Binding(
            "ctrl+s", "done_writing", _("Done"), id="done", tooltip=_("Continue to attachments")
        ),
        Binding(
            "ctrl+o", "pick_file", _("Pick file"), id="pick", tooltip=_("Choose a file to attach")
        ),
        Binding("ctrl+n", "new_message", _("New message"), id="new"),
        Binding(
            "f9", "peek_mail", _("Demo mailbox"), id="peek", tooltip=_("Read the demo's e-mail")
        ),
    ]

    def __init__(self, starter: Starter, org_name: str, *, maildir: Path | None = None) -> None:
        super().__init__()
        self.starter = starter
        self.org_name = org_name
        self.maildir = maildir  # set in demos only: F9 shows the e-mail the guest received
        self.step = Step.NAME
        self.answers: dict[Step, str] = {}
        self.pending: PendingGuest | None = None
        self.guest: VerifiedGuest | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            _("veilig · secure message to {org}").format(org=self.org_name),
            id="title",
            markup=False,
        )
        yield ChatLog(id="chat")
        with Vertical(id="answer"):
            yield Input(id="line", placeholder=_(PLACEHOLDERS[Step.NAME]))
            yield TextArea(id="body", soft_wrap=True, tab_behavior="focus")
            yield AttachmentList(id="files")
            yield ProgressBar(id="progress", show_eta=False)
            yield Button(_("Send securely"), id="send", variant="success")
        yield Footer()

    # --- the dialog ---------------------------------------------------------------

    @property
    def chat(self) -> ChatLog:
        return self.query_one("#chat", ChatLog)

    @property
    def line(self) -> Input:
        return self.query_one("#line", Input)

    def on_mount(self) -> None:
        self.chat.say(
            _(
                "Welcome. Here you can write securely to {org}: your message and files are "
                "encrypted end-to-end. First we check your e-mail address."
            ).format(org=self.org_name)
        )
        self.show_step(Step.NAME)

    def show_step(self, step: Step, *, ask: bool = True) -> None:
        """Show the widgets of ``step`` and (normally) ask its question."""
        self.step = step
        self.set_class(step is Step.CODE, "-code")
        for widget_id, steps in {
            "line": (Step.NAME, Step.EMAIL, Step.CODE, Step.SUBJECT, Step.ATTACHMENTS),
            "body": (Step.BODY,),
            "files": (Step.ATTACHMENTS, Step.CONFIRM),
            "progress": (Step.SENDING,),
            "send": (Step.CONFIRM,),
        }.items():
            self.query_one(f"#{widget_id}").display = step in steps
        if step in PLACEHOLDERS:
            self.line.placeholder = _(PLACEHOLDERS[step])
            # Earlier answers come back when going back; the attachment line starts empty
            # (Enter on an empty line means "done").
            self.line.value = "" if step is Step.ATTACHMENTS else self.answers.get(step, "")
            self.line.password = False
            self.line.focus()
        if ask:
            self.ask(step)
        if step is Step.BODY:
            self.query_one("#body", TextArea).focus()
        elif step is Step.CONFIRM:
            self.query_one("#send", Button).focus()
        self.refresh_bindings()

    def ask(self, step: Step) -> None:
        name = self.answers.get(Step.NAME, "")
        questions = {
            Step.NAME: _("What is your name?"),
            Step.EMAIL: _("Thank you, {name}. What is your e-mail address?").format(name=name),
            Step.SUBJECT: _("What is the subject of your message?"),
            Step.BODY: _("Write your message below. Press Ctrl+S when you are done."),
            Step.ATTACHMENTS: _(
                "Do you want to attach files? Type a file's path and press Enter, or press "
                "Ctrl+O to pick one. Delete removes a file. Press Enter on an empty line when "
                "you are done."
            ),
        }
        if step in questions:
            self.chat.say(questions[step], multiline=False if step is Step.EMAIL else True)
        if step is Step.CONFIRM:
            self.chat.say(self._summary())

    def _summary(self) -> str:
        files = self.query_one("#files", AttachmentList).files
        count = ngettext("{n} attachment", "{n} attachments", len(files)).format(n=len(files))
        total = human_size(sum(f.size for f in files))
        return _(
            "Ready to send to {org}: \u201c{subject}\u201d with {count} ({total}). "
            "Press Enter to send securely, or Escape to change something."
        ).format(
            org=self.org_name, subject=self.answers.get(Step.SUBJECT, ""), count=count, total=total
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show only the keys that do something in this step (the footer follows)."""
        allowed = {
            "resend": self.step is Step.CODE,
            "done_writing": self.step is Step.BODY,
            "pick_file": self.step is Step.ATTACHMENTS,
            "back": self.step in BACK,
            "new_message": self.step is Step.DONE,
            "peek_mail": self.maildir is not None,
        }
        return allowed.get(action, True)

    @on(Input.Submitted, "#line")
    def answer(self, event: Input.Submitted) -> None:
        text = event.value
        step = self.step
        self.answers[step] = text
        try:
            if step is Step.NAME:
                check_name(text)
                self.chat.say(text.strip(), "user", multiline=False)
                self.show_step(Step.EMAIL)
            elif step is Step.EMAIL:
                address = check_email(text)
                self.chat.say(text.strip(), "user", multiline=False)
                if self.pending and self.pending.email == address:
                    self._code_sent(self.pending, again=True)  # back and forth: same code
                else:
                    self.request_code()
            elif step is Step.CODE:
                if text.strip():
                    self.verify(text)
            elif step is Step.SUBJECT:
                self.chat.say(text if text.strip() else _("(no subject)"), "user", multiline=False)
                self.show_step(Step.BODY)
            elif step is Step.ATTACHMENTS:
                self.add_attachment(text)
        except InvalidInput as exc:
            self.show_error(str(exc))

    def add_attachment(self, text: str) -> None:
        files = self.query_one("#files", AttachmentList)
        if not text.strip():
            self._draft().check(self.starter.ctx.policy)  # empty message: say so now
            self.show_step(Step.CONFIRM)
            return
        path = Path(text.strip()).expanduser()
        attachment = self.starter.ctx.attachment(path)
        self.line.value = ""
        if any(f.path.resolve() == path.resolve() for f in files.files):
            self.chat.say(_("{name} is already attached.").format(name=attachment.name), "notice")
            return
        files.add_file(attachment)

    def _draft(self) -> Draft:
        return Draft(
            subject=self.answers.get(Step.SUBJECT, ""),
            body=self.answers.get(Step.BODY, ""),
            attachments=tuple(self.query_one("#files", AttachmentList).files),
        )

    def show_error(self, text: str) -> None:
        """Say what went wrong; whatever was typed stays where it was."""
        self.chat.say(text, "error")
        if self.line.display:
            self.line.focus()
            # Kept, but selected: typing replaces it, arrows edit it.
            self.line.select_all()

    # --- actions ------------------------------------------------------------------

    def action_back(self) -> None:
        if self.step in BACK:
            # The pending code stays valid: the same address again reuses it.
            self.show_step(BACK[self.step])  # asks again, with the earlier answer filled in

    def action_resend(self) -> None:
        if self.step is Step.CODE:
            self.request_code(resend=True)

    def action_done_writing(self) -> None:
        if self.step is not Step.BODY:
            return
        body = self.query_one("#body", TextArea).text
        self.answers[Step.BODY] = body
        if body.strip():
            self.chat.say(body, "user")
        self.show_step(Step.ATTACHMENTS)

    def action_pick_file(self) -> None:
        if self.step is Step.ATTACHMENTS:
            self.app.push_screen(FilePicker(Path.cwd()), self._picked)

    def _picked(self, path: Path | None) -> None:
        if path is not None:
            try:
                self.add_attachment(str(path))
            except InvalidInput as exc:
                self.show_error(str(exc))

    def action_new_message(self) -> None:
        if self.step is Step.DONE:
            for step in (Step.SUBJECT, Step.BODY):
                self.answers.pop(step, None)
            self.query_one("#body", TextArea).text = ""
            self.query_one("#files", AttachmentList).clear()
            self.query_one("#files", AttachmentList).files.clear()
            self.show_step(Step.SUBJECT)

    def action_peek_mail(self) -> None:
        if self.maildir is None:
            return
        to = self.pending.email if self.pending else None
        text = newest_mail(self.maildir, to) or _("No e-mail yet. Delivery takes a moment.")
        self.app.push_screen(MailPeek(text))

    @on(Button.Pressed, "#send")
    def send_pressed(self) -> None:
        if self.step is Step.CONFIRM:
            self.show_step(Step.SENDING, ask=False)
            self.send()

    # --- workers: core calls off the event loop -------------------------------------

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def request_code(self, resend: bool = False) -> None:
        try:
            if resend and self.pending:
                pending = self.starter.resend(self.pending)
            else:
                pending = self.starter.request_code(
                    self.answers.get(Step.NAME, ""), self.answers.get(Step.EMAIL, "")
                )
        except RateLimited as exc:
            self.app.call_from_thread(self.show_error, _rate_message(exc))
            return
        except VeiligError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self._code_sent, pending)

    def _code_sent(self, pending: PendingGuest, again: bool = False) -> None:
        self.pending = pending
        self.show_step(Step.CODE, ask=False)
        if again:
            text = _(
                "We already sent a code to {address}. Type it here and press Enter to unlock. "
                "No e-mail? Press Ctrl+R for a new code."
            )
        else:
            self.answers.pop(Step.CODE, None)
            text = _(
                "We sent a verification code to {address}. Look in your mailbox, type the code "
                "here and press Enter to unlock. No e-mail? Press Ctrl+R for a new code."
            )
        # The full address: the guest just typed it, and a typo must be easy to spot.
        self.chat.say(text.format(address=pending.email), multiline=False)
        self.line.value = self.answers.get(Step.CODE, "")
        self.app.deliver_outbox()  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def verify(self, typed: str) -> None:
        if self.pending is None:
            return
        try:
            guest = self.starter.verify(self.pending, typed)
        except CodeRejected as exc:
            self.app.call_from_thread(self.show_error, _code_message(exc))
            return
        self.app.call_from_thread(self._unlocked, guest)

    def _unlocked(self, guest: VerifiedGuest) -> None:
        self.guest = guest
        self.chat.say(
            _("Unlocked. You can now write your message to {org}.").format(org=self.org_name),
            "notice",
        )
        self.show_step(Step.SUBJECT)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def send(self) -> None:
        assert self.guest is not None
        draft = self._draft()
        bar = self.query_one("#progress", ProgressBar)
        last = [-1]

        def progress(done: int, total: int) -> None:
            percent = done * 100 // total if total else 100
            if percent != last[0]:  # at most 100 UI updates, whatever the size
                last[0] = percent
                self.app.call_from_thread(bar.update, total=total, progress=done)

        try:
            receipt = self.starter.send(self.guest, draft, progress)
        except VeiligError as exc:
            self.app.call_from_thread(self._send_failed, str(exc))
            return
        self.app.call_from_thread(self._sent, receipt.attachments)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place for errors nobody foresaw: say so, keep everything, log the kind."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        # The kind only: an exception's text or traceback could quote what was typed.
        log.error("unexpected %s in %s", type(error).__name__, event.worker.name)
        if self.step is Step.SENDING:
            self.show_step(Step.CONFIRM, ask=False)
        self.show_error(
            _("Something went wrong on our side. Nothing you typed is lost; please try again.")
        )

    def _send_failed(self, text: str) -> None:
        self.show_step(Step.CONFIRM, ask=False)
        self.show_error(text)

    def _sent(self, attachments: int) -> None:
        self.show_step(Step.DONE, ask=False)
        assert self.guest is not None
        self.chat.say(
            _(
                "Your message arrived at {org} in good order, end-to-end encrypted. We sent "
                "a confirmation to {address}. Press Ctrl+N to write another message, or "
                "Ctrl+Q to quit."
            ).format(org=self.org_name, address=mask_email(self.guest.email)),
            "notice",
        )
        self.app.deliver_outbox()  # type: ignore[attr-defined]


def _rate_message(exc: RateLimited) -> str:
    minutes = max(1, -(-exc.retry_after_seconds // 60))
    if exc.retry_after_seconds <= 60:
        return _("A code was sent a moment ago. Please wait {s} seconds for a new one.").format(
            s=exc.retry_after_seconds
        )
    return ngettext(
        "Too many codes were asked for this address. Try again in {n} minute.",
        "Too many codes were asked for this address. Try again in {n} minutes.",
        minutes,
    ).format(n=minutes)


def _code_message(exc: CodeRejected) -> str:
    if exc.reason == CodeRejected.MALFORMED:
        return _("A code is 6 digits. Please check what you typed.")
    if exc.reason == CodeRejected.EXPIRED:
        return _("This code has expired. Press Ctrl+R for a new code.")
    if exc.reason == CodeRejected.USED_UP:
        return _("This code can no longer be used. Press Ctrl+R for a new code.")
    return ngettext(
        "That code is not right. You can try {n} more time.",
        "That code is not right. You can try {n} more times.",
        exc.attempts_left,
    ).format(n=exc.attempts_left)
