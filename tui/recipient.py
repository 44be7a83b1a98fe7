"""``veilig open``: a recipient opens a secure message (seed 2B–2D) and replies (3A)."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.binding import Binding
from textual.widgets import Button, Input

from core.dialog import RECIPIENT_BACK, RecipientStep
from core.errors import CodeRejected, InvalidInput, RateLimited, VeiligError
from core.i18n import _
from core.models import Direction, Method
from core.recipient import (
    CodeSent,
    Invited,
    MessageUnavailable,
    OpenThread,
    Recipient,
    unavailable_message,
)
from core.sealing import OpenedMessage
from core.stream import ContentKey
from tui.chat import ChatScreen, code_message, explain, rate_message

Step = RecipientStep

WIDGETS = {
    Step.REFERENCE: ("line",),
    Step.DESTINATION: ("buttons",),
    Step.CODE: ("line",),
    Step.READ: (),
    Step.SAVE: ("line",),
    Step.BODY: ("body",),
    Step.ATTACHMENTS: ("line", "files"),
    Step.CONFIRM: ("files", "buttons"),
    Step.SENDING: ("progress",),
}


class RecipientScreen(ChatScreen):
    BINDINGS = [
        Binding("escape", "back", _("Back"), id="back"),
        Binding("ctrl+r", "resend", _("New code"), id="resend"),
        Binding("ctrl+d", "save", _("Save attachments"), id="save"),
        Binding("ctrl+e", "reply", _("Reply"), id="reply"),
        Binding("ctrl+s", "done_writing", _("Done"), id="done"),
        Binding("ctrl+o", "pick_file", _("Pick file"), id="pick"),
    ]

    def __init__(self, recipient: Recipient, org_name: str, reference: str | None = None) -> None:
        super().__init__(
            recipient.ctx, _("veilig · secure message from {org}").format(org=org_name)
        )
        self.recipient = recipient
        self.org_name = org_name
        self.initial_reference = reference
        self.step = Step.REFERENCE
        self.invited: Invited | None = None
        self.sent: CodeSent | None = None
        self.thread: OpenThread | None = None
        self.messages: list[tuple[OpenedMessage, ContentKey]] = []
        self.typed_code = ""

    def on_mount(self) -> None:
        self.chat.say(
            _("Welcome. Here you open the secure message that {org} sent you.").format(
                org=self.org_name
            )
        )
        if self.initial_reference:
            self.show_step(Step.REFERENCE, ask=False)
            self.lookup(self.initial_reference)
        else:
            self.show_step(Step.REFERENCE)

    def show_step(self, step: Step, *, ask: bool = True) -> None:
        self.step = step
        self.show_only(*WIDGETS[step])
        if step is Step.REFERENCE:
            self.ask_line(_("Reference from the e-mail (8 groups of 4)"))
            if ask:
                self.chat.say(_("Please paste the reference from the e-mail you received."))
        elif step is Step.DESTINATION:
            self.send_button.label = _("Get the code")
            self.send_button.focus()
        elif step is Step.CODE:
            self.ask_line(_("Verification code"), self.typed_code)
        elif step is Step.SAVE:
            self.ask_line(_("Folder to save the attachments in"), str(self.save_folder()))
            if ask:
                self.chat.say(
                    _("In which folder shall we save the attachments? Press Enter to confirm.")
                )
        elif step is Step.BODY:
            self.body.focus()
            if ask:
                self.chat.say(_("Write your reply below. Press Ctrl+S when you are done."))
        elif step is Step.ATTACHMENTS:
            self.ask_line(_("Path of a file to attach (Enter on an empty line: done)"))
            if ask:
                self.chat.say(
                    _(
                        "Do you want to attach files? Type a file's path and press Enter, or "
                        "press Ctrl+O to pick one. Press Enter on an empty line when you are done."
                    )
                )
                self.say_upload_hint()
        elif step is Step.CONFIRM:
            self.send_button.label = _("Send securely")
            self.send_button.focus()
            if ask:
                self.chat.say(self.summary(self.org_name, self._reply_subject()))
        elif step is Step.READ:
            self.focus_next()
            if ask:
                self.chat.say(
                    _("Press Ctrl+E to reply, Ctrl+D to save the attachments, Ctrl+Q to close."),
                    "notice",
                )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        has_files = any(m.attachments for m, _key in self.messages)
        allowed = {
            "back": self.step in RECIPIENT_BACK,
            "resend": self.step is Step.CODE,
            "save": self.step is Step.READ and has_files,
            "reply": self.step is Step.READ,
            "done_writing": self.step is Step.BODY,
            "pick_file": self.step is Step.ATTACHMENTS,
        }
        return allowed.get(action, True)

    def _reply_subject(self) -> str:
        subject = self.messages[-1][0].subject if self.messages else ""
        return (
            subject
            if subject.lower().startswith("re:")
            else _("Re: {subject}").format(subject=subject)
        )

    # --- input ------------------------------------------------------------------------

    @on(Input.Submitted, "#line")
    def answer(self, event: Input.Submitted) -> None:
        text = event.value
        try:
            if self.step is Step.REFERENCE and text.strip():
                self.lookup(text)
            elif self.step is Step.CODE and text.strip():
                self.typed_code = text
                self.verify(text)
            elif self.step is Step.SAVE:
                self.save(Path(text.strip() or ".").expanduser())
            elif self.step is Step.ATTACHMENTS:
                if text.strip():
                    self.add_attachment(text)
                else:
                    self.draft(self._reply_subject()).check(self.ctx.policy)
                    self.show_step(Step.CONFIRM)
        except InvalidInput as exc:
            self.show_error(str(exc))

    @on(Button.Pressed, "#send")
    def button(self) -> None:
        if self.step is Step.DESTINATION:
            self.request_code()
        elif self.step is Step.CONFIRM:
            self.show_step(Step.SENDING, ask=False)
            self.send_reply()

    def action_back(self) -> None:
        if self.step in RECIPIENT_BACK:
            self.show_step(RECIPIENT_BACK[self.step], ask=False)

    def action_resend(self) -> None:
        if self.step is Step.CODE:
            self.request_code()

    def action_save(self) -> None:
        if self.step is Step.READ and self.in_browser:
            self.save(self.save_folder())  # the browser, not the person, picks the folder
        elif self.step is Step.READ:
            self.show_step(Step.SAVE)

    def attaching(self) -> bool:
        return self.step is Step.ATTACHMENTS

    def action_reply(self) -> None:
        if self.step is Step.READ:
            self.show_step(Step.BODY)

    def action_done_writing(self) -> None:
        if self.step is Step.BODY:
            if self.body.text.strip():
                self.chat.say(self.body.text, "user")
            self.show_step(Step.ATTACHMENTS)

    def action_pick_file(self) -> None:
        if self.step is Step.ATTACHMENTS:
            self.pick_file()

    # --- workers --------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def lookup(self, typed: str) -> None:
        try:
            invited = self.recipient.lookup(typed)
        except MessageUnavailable as exc:
            self.app.call_from_thread(self.show_error, unavailable_message(exc))
            return
        except VeiligError as exc:
            self.app.call_from_thread(self.show_error, explain(exc))
            return
        self.app.call_from_thread(self._found, invited)

    def _found(self, invited: Invited) -> None:
        self.invited = invited
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
        self.show_step(Step.DESTINATION)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def request_code(self) -> None:
        assert self.invited is not None
        try:
            sent = self.recipient.request_code(self.invited)
        except RateLimited as exc:
            self.app.call_from_thread(self.show_error, rate_message(exc))
            return
        except MessageUnavailable as exc:
            self.app.call_from_thread(self.show_error, unavailable_message(exc))
            return
        self.app.call_from_thread(self._code_sent, sent)

    def _code_sent(self, sent: CodeSent) -> None:
        self.sent = sent
        self.typed_code = ""
        self.show_step(Step.CODE)
        self.chat.say(
            _(
                "The code is on its way. Type it here and press Enter to unlock. "
                "No code? Press Ctrl+R."
            ),
        )
        self.app.deliver_outbox()  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def verify(self, typed: str) -> None:
        assert self.sent is not None
        try:
            thread = self.recipient.verify(self.sent, typed)
            messages = self.recipient.messages(thread)
        except CodeRejected as exc:
            self.app.call_from_thread(self.show_error, code_message(exc))
            return
        except MessageUnavailable as exc:
            self.app.call_from_thread(self.show_error, unavailable_message(exc))
            return
        self.app.call_from_thread(self._unlocked, thread, messages)

    def _unlocked(
        self, thread: OpenThread, messages: list[tuple[OpenedMessage, ContentKey]]
    ) -> None:
        self.thread = thread
        self.messages = messages
        self.chat.say(_("Unlocked."), "notice")
        for opened, _key in messages:
            self.show_message(opened, mine=Direction.INBOUND)
        self.show_step(Step.READ)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def save(self, folder: Path) -> None:
        assert self.thread is not None
        saved = []
        try:
            for opened, key in self.messages:
                for position in range(len(opened.attachments)):
                    saved.append(
                        self.recipient.save_attachment(self.thread, opened, key, position, folder)
                    )
        except VeiligError as exc:
            self.app.call_from_thread(self.show_error, explain(exc))
            return
        self.app.call_from_thread(self._saved, saved)

    def _saved(self, paths: list[Path]) -> None:
        listing = "\n".join(self.shown_path(p) for p in paths)
        self.chat.say(_("Saved:\n{paths}").format(paths=listing), "notice")
        self.say_download_hint(paths)
        self.show_step(Step.READ, ask=False)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def send_reply(self) -> None:
        assert self.thread is not None
        draft = self.draft(self._reply_subject())
        try:
            self.recipient.reply(self.thread, draft, self.progress_callback())
            messages = self.recipient.messages(self.thread)
        except VeiligError as exc:
            self.app.call_from_thread(self._send_failed, explain(exc))
            return
        self.app.call_from_thread(self._replied, messages)

    def recover(self) -> None:
        if self.step is Step.SENDING:
            self.show_step(Step.CONFIRM, ask=False)

    def _send_failed(self, text: str) -> None:
        self.show_step(Step.CONFIRM, ask=False)
        self.show_error(text)

    def _replied(self, messages: list[tuple[OpenedMessage, ContentKey]]) -> None:
        self.messages = messages
        self.clear_draft()
        self.chat.say(
            _("Your reply was sent to {org}, end-to-end encrypted.").format(org=self.org_name),
            "notice",
        )
        self.show_step(Step.READ)
        self.app.deliver_outbox()  # type: ignore[attr-defined]
