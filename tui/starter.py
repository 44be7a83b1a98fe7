"""``veilig start``: the conversation starter (seed flow 1) as a guided chat.

Each step asks one question in a bubble and takes the answer at the bottom. The
screen holds only what was typed; every decision is a call into ``core.starter``,
run in a thread worker so that the database and sealing never freeze it.
"""

from __future__ import annotations

from textual import on, work
from textual.binding import Binding
from textual.widgets import Button, Input

from core.dialog import BACK, StarterStep
from core.display import mask_email
from core.errors import CodeRejected, InvalidInput, RateLimited, VeiligError
from core.i18n import N_, _
from core.starter import PendingGuest, Starter, VerifiedGuest, check_email, check_name
from tui.chat import ChatScreen, code_message, explain, rate_message

Step = StarterStep

# What the single-line input asks for, per step.
PLACEHOLDERS = {
    Step.NAME: N_("Your name"),
    Step.EMAIL: N_("Your e-mail address"),
    Step.CODE: N_("Verification code"),
    Step.SUBJECT: N_("Subject"),
    Step.ATTACHMENTS: N_("Path of a file to attach (Enter on an empty line: done)"),
}

WIDGETS = {
    Step.NAME: ("line",),
    Step.EMAIL: ("line",),
    Step.CODE: ("line",),
    Step.SUBJECT: ("line",),
    Step.BODY: ("body",),
    Step.ATTACHMENTS: ("line", "files"),
    Step.CONFIRM: ("files", "buttons"),
    Step.SENDING: ("progress",),
    Step.DONE: (),
}


class StarterScreen(ChatScreen):
    BINDINGS = [
        Binding(
            "escape", "back", _("Back"), id="back", tooltip=_("One step back; nothing is lost")
        ),
        Binding("ctrl+r", "resend", _("New code"), id="resend", tooltip=_("E-mail a new code")),
        Binding("ctrl+s", "done_writing", _("Done"), id="done", tooltip=_("On to attachments")),
        Binding("ctrl+o", "pick_file", _("Pick file"), id="pick", tooltip=_("Choose a file")),
        Binding("ctrl+n", "new_message", _("New message"), id="new"),
    ]

    def __init__(self, starter: Starter, org_name: str) -> None:
        super().__init__(starter.ctx, _("veilig · secure message to {org}").format(org=org_name))
        self.starter = starter
        self.org_name = org_name
        self.step = Step.NAME
        self.answers: dict[Step, str] = {}
        self.pending: PendingGuest | None = None
        self.guest: VerifiedGuest | None = None

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
        self.show_only(*WIDGETS[step])
        if step in PLACEHOLDERS:
            # Earlier answers come back when going back; the attachment line starts empty
            # (Enter on an empty line means "done").
            value = "" if step is Step.ATTACHMENTS else self.answers.get(step, "")
            self.ask_line(_(PLACEHOLDERS[step]), value)
        if ask:
            self.ask(step)
        if step is Step.BODY:
            self.body.focus()
        elif step is Step.CONFIRM:
            self.send_button.focus()
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
            self.chat.say(questions[step], multiline=step is not Step.EMAIL)
        if step is Step.ATTACHMENTS:
            self.say_upload_hint()
        if step is Step.CONFIRM:
            self.chat.say(self.summary(self.org_name, self.answers.get(Step.SUBJECT, "")))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show only the keys that do something in this step (the footer follows)."""
        allowed = {
            "resend": self.step is Step.CODE,
            "done_writing": self.step is Step.BODY,
            "pick_file": self.step is Step.ATTACHMENTS,
            "back": self.step in BACK,
            "new_message": self.step is Step.DONE,
        }
        return allowed.get(action, True)

    def attaching(self) -> bool:
        return self.step is Step.ATTACHMENTS

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
                if text.strip():
                    self.add_attachment(text)
                else:
                    self.draft(self.answers.get(Step.SUBJECT, "")).check(self.ctx.policy)
                    self.show_step(Step.CONFIRM)
        except InvalidInput as exc:
            self.show_error(str(exc))

    # --- actions ------------------------------------------------------------------

    def action_back(self) -> None:
        if self.step in BACK:
            # The pending code stays valid: the same address again reuses it.
            self.show_step(BACK[self.step])

    def action_resend(self) -> None:
        if self.step is Step.CODE:
            self.request_code(resend=True)

    def action_done_writing(self) -> None:
        if self.step is not Step.BODY:
            return
        self.answers[Step.BODY] = self.body.text
        if self.body.text.strip():
            self.chat.say(self.body.text, "user")
        self.show_step(Step.ATTACHMENTS)

    def action_pick_file(self) -> None:
        if self.step is Step.ATTACHMENTS:
            self.pick_file()

    def action_new_message(self) -> None:
        if self.step is Step.DONE:
            for step in (Step.SUBJECT, Step.BODY):
                self.answers.pop(step, None)
            self.clear_draft()
            self.show_step(Step.SUBJECT)

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
            self.app.call_from_thread(self.show_error, rate_message(exc))
            return
        except VeiligError as exc:
            self.app.call_from_thread(self.show_error, explain(exc))
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
            self.app.call_from_thread(self.show_error, code_message(exc))
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
        draft = self.draft(self.answers.get(Step.SUBJECT, ""))
        try:
            receipt = self.starter.send(self.guest, draft, self.progress_callback())
        except VeiligError as exc:
            self.app.call_from_thread(self._send_failed, explain(exc))
            return
        self.app.call_from_thread(self._sent, receipt.attachments)

    def recover(self) -> None:
        if self.step is Step.SENDING:
            self.show_step(Step.CONFIRM, ask=False)

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
