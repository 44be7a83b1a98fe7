"""``veilig start``: the conversation starter (seed flow 1) as a guided chat.

Each step asks one question in a bubble and takes the answer at the bottom. The
screen holds only what was typed; every decision is a call into ``core.starter``,
run in a thread worker so that the database and sealing never freeze it. Writing
the message is the shared flow of :mod:`tui.writing`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.binding import Binding
from textual.message import Message

from core.contact import check_email, mask_email
from core.dialog import STARTER_BACK, StarterStep, Step, WriteStep
from core.drafts import Draft, Progress
from core.i18n import N_, _
from core.starter import PendingGuest, Starter, VerifiedGuest, check_name
from tui.writing import WRITE_WIDGETS, WritingScreen

# What the single-line input asks for, per step.
PLACEHOLDERS = {
    StarterStep.NAME: N_("Your name"),
    StarterStep.EMAIL: N_("Your e-mail address"),
    StarterStep.CODE: N_("Verification code"),
    StarterStep.SUBJECT: N_("Subject"),
}


class StarterScreen(WritingScreen):
    BINDINGS = [
        Binding(
            "escape", "back", _("Back"), id="back", tooltip=_("One step back; nothing is lost")
        ),
        Binding("ctrl+r", "resend", _("New code"), id="resend", tooltip=_("E-mail a new code")),
        Binding("ctrl+s", "done_writing", _("Done"), id="done", tooltip=_("On to attachments")),
        Binding("ctrl+o", "pick_file", _("Pick file"), id="pick", tooltip=_("Choose a file")),
        Binding("ctrl+n", "new_message", _("New message"), id="new"),
    ]
    WIDGETS = {
        StarterStep.NAME: ("line",),
        StarterStep.EMAIL: ("line",),
        StarterStep.CODE: ("line",),
        StarterStep.SUBJECT: ("line",),
        **WRITE_WIDGETS,
        StarterStep.DONE: (),
    }
    BACK = STARTER_BACK
    ASK_AGAIN_ON_BACK = True
    ASK_ATTACHMENTS = N_(
        "Do you want to attach files? Type a file's path and press Enter, or press "
        "Ctrl+O to pick one. Delete removes a file. Press Enter on an empty line when "
        "you are done."
    )

    @dataclass
    class CodeSent(Message):
        pending: PendingGuest

    @dataclass
    class Unlocked(Message):
        guest: VerifiedGuest

    def __init__(self, starter: Starter, org_name: str) -> None:
        super().__init__(starter.ctx, _("veilig · secure message to {org}").format(org=org_name))
        self.starter = starter
        self.org_name = org_name
        self.step = StarterStep.NAME
        self.answers: dict[StarterStep, str] = {}
        self.pending: PendingGuest | None = None
        self.guest: VerifiedGuest | None = None

    def on_mount(self) -> None:
        self.chat.say(
            _(
                "Welcome. Here you can write securely to {org}: your message and files are "
                "encrypted for {org} on our server as they arrive. First we check your e-mail "
                "address."
            ).format(org=self.org_name)
        )
        self.show_step(StarterStep.NAME)

    # --- the steps --------------------------------------------------------------------

    def enter(self, step: Step, *, ask: bool) -> None:
        if not isinstance(step, StarterStep):
            super().enter(step, ask=ask)
            return
        if step in PLACEHOLDERS:
            # Earlier answers come back when going back.
            self.ask_line(_(PLACEHOLDERS[step]), self.answers.get(step, ""))
        if not ask:
            return
        name = self.answers.get(StarterStep.NAME, "")
        if step is StarterStep.NAME:
            self.chat.say(_("What is your name?"))
        elif step is StarterStep.EMAIL:
            text = _("Thank you, {name}. What is your e-mail address?").format(name=name)
            self.chat.say(text, multiline=False)
        elif step is StarterStep.SUBJECT:
            self.chat.say(_("What is the subject of your message?"))

    def answer(self, step: Step, text: str) -> None:
        if not isinstance(step, StarterStep):
            super().answer(step, text)
            return
        self.answers[step] = text
        if step is StarterStep.NAME:
            check_name(text)
            self.chat.say(text.strip(), "user", multiline=False)
            self.show_step(StarterStep.EMAIL)
        elif step is StarterStep.EMAIL:
            address = check_email(text)
            self.chat.say(text.strip(), "user", multiline=False)
            if self.pending and self.pending.email == address:
                self._code_sent(self.pending, again=True)  # back and forth: same code
            else:
                self.request_code()
        elif step is StarterStep.CODE:
            if text.strip():
                self.verify(text)
        elif step is StarterStep.SUBJECT:
            self.chat.say(text if text.strip() else _("(no subject)"), "user", multiline=False)
            self.show_step(WriteStep.BODY)

    def allowed(self) -> dict[str, bool]:
        """Show only the keys that do something in this step (the footer follows)."""
        return super().allowed() | {
            "resend": self.step is StarterStep.CODE,
            "new_message": self.step is StarterStep.DONE,
        }

    def addressee(self) -> str:
        return self.org_name

    def draft_subject(self) -> str:
        return self.answers.get(StarterStep.SUBJECT, "")

    # --- actions ------------------------------------------------------------------

    def action_resend(self) -> None:
        if self.step is StarterStep.CODE:
            self.request_code(resend=True)

    def action_new_message(self) -> None:
        if self.step is StarterStep.DONE:
            self.answers.pop(StarterStep.SUBJECT, None)
            self.show_step(StarterStep.SUBJECT)

    # --- workers: core calls off the event loop -------------------------------------

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def request_code(self, resend: bool = False) -> None:
        if resend and self.pending:
            pending = self.starter.resend(self.pending)
        else:
            pending = self.starter.request_code(
                self.answers.get(StarterStep.NAME, ""), self.answers.get(StarterStep.EMAIL, "")
            )
        self.post_message(self.CodeSent(pending))

    @on(CodeSent)
    def _on_code_sent(self, sent: CodeSent) -> None:
        self._code_sent(sent.pending)

    def _code_sent(self, pending: PendingGuest, again: bool = False) -> None:
        self.pending = pending
        self.show_step(StarterStep.CODE, ask=False)
        if again:
            text = _(
                "We already sent a code to {address}. Type it here and press Enter to unlock. "
                "No e-mail? Press Ctrl+R for a new code."
            )
        else:
            self.answers.pop(StarterStep.CODE, None)
            text = _(
                "We sent a verification code to {address}. Look in your mailbox, type the code "
                "here and press Enter to unlock. No e-mail? Press Ctrl+R for a new code."
            )
        # The full address: the guest just typed it, and a typo must be easy to spot.
        self.chat.say(text.format(address=pending.email), multiline=False)
        self.line.value = self.answers.get(StarterStep.CODE, "")
        self.outbox_due()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def verify(self, typed: str) -> None:
        if self.pending is not None:
            self.post_message(self.Unlocked(self.starter.verify(self.pending, typed)))

    @on(Unlocked)
    def _unlocked(self, unlocked: Unlocked) -> None:
        self.guest = unlocked.guest
        self.chat.say(
            _("Unlocked. You can now write your message to {org}.").format(org=self.org_name),
            "notice",
        )
        self.show_step(StarterStep.SUBJECT)

    # --- sending (the flow is tui.writing's) -----------------------------------------

    def seal(self, draft: Draft, progress: Progress) -> object:
        assert self.guest is not None
        return self.starter.send(self.guest, draft, progress)

    def sealed(self, result: object) -> None:
        self.show_step(StarterStep.DONE, ask=False)
        assert self.guest is not None
        self.chat.say(
            _(
                "Your message arrived at {org} in good order; it was encrypted on our server "
                "as it arrived. A confirmation will follow by e-mail to {address}. Press "
                "Ctrl+N to write another message, or Ctrl+Q to quit."
            ).format(org=self.org_name, address=mask_email(self.guest.email)),
            "notice",
        )
        code = getattr(result, "receipt_code", None)
        if code:
            # Shown here only (core.receipt): with it and their files, the guest can check
            # the receipt values in the confirmation e-mail, and show what they sent.
            self.chat.say(
                _(
                    "Your receipt code: {code}\nKeep it with the confirmation e-mail: with it "
                    "you can show later what you sent (veilig receipt CODE FILE)."
                ).format(code=code),
                "notice",
            )
