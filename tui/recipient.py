"""``veilig open``: a recipient opens a secure message (seed 2B–2D) and replies (3A).

Reference, the masked number on file, the code: this screen's own steps. Reading,
saving and replying are the shared flows of :mod:`tui.reading` and :mod:`tui.writing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.binding import Binding
from textual.message import Message

from core.dialog import RECIPIENT_BACK, ReadStep, RecipientStep, Step
from core.drafts import Draft, OpenedMessage, Progress
from core.errors import VeiligError
from core.i18n import N_, _
from core.recipient import Recipient
from core.recipient_steps import (
    CodeSent,
    Invited,
    MessageUnavailable,
    OpenThread,
    ThreadMessages,
    unavailable_message,
)
from tui.chat import BACK_KEY
from tui.reading import READ_WIDGETS, REPLY_KEY, SAVE_KEY, ReadingScreen
from tui.writing import DONE_KEY, PICK_KEY

if TYPE_CHECKING:
    from core.stream import ContentKey  # cryptography: not before the first question


class RecipientScreen(ReadingScreen):
    BINDINGS = [
        BACK_KEY,
        Binding("ctrl+r", "resend", _("New code"), id="resend"),
        SAVE_KEY,
        REPLY_KEY,
        DONE_KEY,
        PICK_KEY,
    ]
    WIDGETS = {
        RecipientStep.REFERENCE: ("line",),
        RecipientStep.DESTINATION: ("buttons",),
        RecipientStep.CODE: ("line",),
        **READ_WIDGETS,
    }
    BACK = RECIPIENT_BACK
    ASK_BODY = N_("Write your reply below. Press Ctrl+S when you are done.")

    @dataclass
    class Found(Message):
        invited: Invited

    @dataclass
    class CodeRequested(Message):
        sent: CodeSent

    @dataclass
    class Unlocked(Message):
        thread: OpenThread
        read: ThreadMessages

    def __init__(self, recipient: Recipient, org_name: str, reference: str | None = None) -> None:
        super().__init__(
            recipient.ctx, _("veilig · secure message from {org}").format(org=org_name)
        )
        self.recipient = recipient
        self.org_name = org_name
        self.initial_reference = reference
        self.step = RecipientStep.REFERENCE
        self.invited: Invited | None = None
        self.sent: CodeSent | None = None
        self.thread: OpenThread | None = None
        self.typed_code = ""

    def on_mount(self) -> None:
        self.chat.say(
            _("Welcome. Here you open the secure message that {org} sent you.").format(
                org=self.org_name
            )
        )
        if self.initial_reference:
            # Given on the command line: looked up at once, without first showing the
            # field to paste it in (it stood there, empty, while the database opened).
            self.show_only()
            self.chat.say(_("One moment: we look up your reference."))
            self.lookup(self.initial_reference)
        else:
            self.show_step(RecipientStep.REFERENCE)

    # --- the steps --------------------------------------------------------------------

    def enter(self, step: Step, *, ask: bool) -> None:
        if step is RecipientStep.REFERENCE:
            self.ask_line(_("Reference from the e-mail (groups of 4)"))
            if ask:
                self.chat.say(_("Please paste the reference from the e-mail you received."))
        elif step is RecipientStep.DESTINATION:
            self.send_button.label = _("Get the code")
            self.send_button.focus()
        elif step is RecipientStep.CODE:
            self.ask_line(_("Verification code"), self.typed_code)
        else:
            super().enter(step, ask=ask)
            if step is ReadStep.READ and ask:
                hint = (
                    _("Press Ctrl+E to reply, Ctrl+D to save the attachments, Ctrl+Q to close.")
                    if self.has_files()
                    else _("Press Ctrl+E to reply, Ctrl+Q to close.")
                )
                self.chat.say(hint, "notice")

    def answer(self, step: Step, text: str) -> None:
        if step is RecipientStep.REFERENCE and text.strip():
            self.lookup(text)
        elif step is RecipientStep.CODE and text.strip():
            self.typed_code = text
            self.verify(text)
        else:
            super().answer(step, text)

    def press(self, step: Step) -> None:
        if step is RecipientStep.DESTINATION:
            self.request_code()
        else:
            super().press(step)

    def allowed(self) -> dict[str, bool]:
        return super().allowed() | {"resend": self.step is RecipientStep.CODE}

    def recover(self) -> None:
        if self.step is RecipientStep.REFERENCE and not self.line.display:
            # The reference from the command line did not lead anywhere: ask for it.
            self.show_step(RecipientStep.REFERENCE, ask=False)
            self.line.value = self.initial_reference or ""
        else:
            super().recover()

    def explain(self, error: VeiligError) -> str:
        if isinstance(error, MessageUnavailable):
            return unavailable_message(error)
        return super().explain(error)

    def addressee(self) -> str:
        return self.org_name

    def action_resend(self) -> None:
        if self.step is RecipientStep.CODE:
            self.request_code()

    # --- workers ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def lookup(self, typed: str) -> None:
        self.post_message(self.Found(self.recipient.lookup(typed)))

    @on(Found)
    def _found(self, found: Found) -> None:
        from core.models import Method

        self.invited = invited = found.invited
        if invited.method is Method.SMS:
            text = _(
                "We will send a verification code to {destination}, the mobile number {org} "
                "has for you. Is that your number? Then press Enter to get the code."
            )
        else:
            text = _(
                "We will send a verification code by e-mail to {destination}, the address {org} "
                "has for you. Is that your address? Then press Enter to get the code."
            )
        self.chat.say(text.format(destination=invited.masked_destination, org=invited.org_name))
        self.chat.say(
            _("Not yours? Then do not continue; please contact {org}.").format(
                org=invited.org_name
            ),
            "notice",
        )
        self.show_step(RecipientStep.DESTINATION)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def request_code(self) -> None:
        assert self.invited is not None
        self.post_message(self.CodeRequested(self.recipient.request_code(self.invited)))

    @on(CodeRequested)
    def _code_sent(self, requested: CodeRequested) -> None:
        self.sent = requested.sent
        self.typed_code = ""
        self.show_step(RecipientStep.CODE)
        self.chat.say(
            _(
                "The code is on its way. Type it here and press Enter to unlock. "
                "No code? Press Ctrl+R."
            ),
        )
        self.outbox_due()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def verify(self, typed: str) -> None:
        assert self.sent is not None
        thread = self.recipient.verify(self.sent, typed)
        self.post_message(self.Unlocked(thread, self.recipient.read(thread)))

    @on(Unlocked)
    def _unlocked(self, unlocked: Unlocked) -> None:
        from core.models import Direction

        self.thread = unlocked.thread
        self.chat.say(_("Unlocked."), "notice")
        read = unlocked.read
        self.show_thread(read.opened, len(read.damaged), mine=Direction.INBOUND)
        self.show_step(ReadStep.READ)

    def save_one(self, opened: OpenedMessage, key: ContentKey, position: int, folder: Path) -> Path:
        assert self.thread is not None
        return self.recipient.save_attachment(self.thread, opened, key, position, folder)

    # --- replying (the flow is tui.writing's) -----------------------------------------

    def seal(self, draft: Draft, progress: Progress) -> object:
        assert self.thread is not None
        self.recipient.reply(self.thread, draft, progress)
        return self.recipient.read(self.thread)

    def sealed(self, result: object) -> None:
        assert isinstance(result, ThreadMessages)
        self.messages = result.opened
        self.chat.say(
            _("Your reply was sent to {org}, encrypted.").format(org=self.org_name),
            "notice",
        )
        self.show_step(ReadStep.READ)
