"""Writing a message, the one flow of the starter, the recipient's reply and the desk's reply.

write the body (Ctrl+S) → attach files (a path per line, or Ctrl+O; Enter on an empty
line) → confirm (a summary, the send button) → send, with progress, in a worker → on
failure back at the confirm step with the draft intact and the reason said.

A dialog fills in what differs: its questions (``ASK_BODY``, ``ASK_ATTACHMENTS``),
whether the body is echoed as the writer's bubble (``ECHO_BODY``), whom the summary
names (``addressee``), the subject (``draft_subject``), the core call that seals and
stores (``seal``, in a thread) and what follows (``sealed``, on screen).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.binding import Binding
from textual.message import Message

from core.dialog import Step, WriteStep
from core.display import human_size
from core.drafts import Draft, Progress
from core.errors import InvalidInput
from core.i18n import N_, _, ngettext
from tui.chat import ChatScreen
from tui.widgets import AttachmentList

if TYPE_CHECKING:
    from core.transfer import TransferArea

# No sealing here (core.drafts has the plain Draft); the text area, the progress bar and
# the file picker are imported when their step comes (tests/test_startup.py).

WRITE_WIDGETS: dict[Step, tuple[str, ...]] = {
    WriteStep.BODY: ("body",),
    WriteStep.ATTACHMENTS: ("line", "files"),
    WriteStep.CONFIRM: ("files", "buttons"),
    WriteStep.SENDING: ("progress",),
}


def ssh_upload_hint(transfer: TransferArea, then: str = "") -> str:
    """Over SSH: how to put a file from your own computer into this session; ``then``
    says what to do next (by default: type its name here, or Ctrl+O)."""
    return _(
        "You are connected over SSH. To attach a file from your own computer, open "
        "a second terminal there and type:\n{command}\n{then} Only this session can use "
        "this login.\nOr with sftp: {sftp} (then: put FILE upload/)"
    ).format(
        command=transfer.upload_command(),
        sftp=transfer.sftp_command(),
        then=then or _("Then type the file's name here, or press Ctrl+O."),
    )


# The keys of writing; each dialog lists them in its BINDINGS, in its own order.
DONE_KEY = Binding("ctrl+s", "done_writing", _("Done"), id="done")
PICK_KEY = Binding("ctrl+o", "pick_file", _("Pick file"), id="pick")


class WritingScreen(ChatScreen):
    """A dialog that writes a message. See the module docstring for the flow."""

    WIDGETS = WRITE_WIDGETS
    ASK_BODY: ClassVar[str] = N_("Write your message below. Press Ctrl+S when you are done.")
    ASK_ATTACHMENTS: ClassVar[str] = N_(
        "Do you want to attach files? Type a file's path and press Enter, or press "
        "Ctrl+O to pick one. Press Enter on an empty line when you are done."
    )
    ECHO_BODY: ClassVar[bool] = True  # the body written shows as the writer's own bubble

    @dataclass
    class Sealed(Message):
        """The core stored and queued the message; ``result`` is what ``seal`` returned."""

        result: object

    # --- what a dialog fills in -------------------------------------------------------

    def addressee(self) -> str:
        """Whom the message goes to, as the summary names them."""
        raise NotImplementedError

    def draft_subject(self) -> str:
        raise NotImplementedError

    def seal(self, draft: Draft, progress: Progress) -> object:
        """The core call that seals and stores ``draft`` (runs in a thread)."""
        raise NotImplementedError

    def sealed(self, result: object) -> None:
        """After sending: what the dialog says and where it goes (the draft is cleared)."""

    # --- the steps --------------------------------------------------------------------

    def enter(self, step: Step, *, ask: bool) -> None:
        if step is WriteStep.BODY:
            if ask:
                self.chat.say(_(self.ASK_BODY))
            self.body.focus()
        elif step is WriteStep.ATTACHMENTS:
            # Empty: Enter on an empty line means "done".
            self.ask_line(_("Path of a file to attach (Enter on an empty line: done)"))
            if ask:
                self.chat.say(_(self.ASK_ATTACHMENTS))
                self.say_upload_hint()
        elif step is WriteStep.CONFIRM:
            self.send_button.label = _("Send securely")
            self.send_button.focus()
            if ask:
                self.chat.say(self.summary())
        else:
            super().enter(step, ask=ask)

    def answer(self, step: Step, text: str) -> None:
        if step is not WriteStep.ATTACHMENTS:
            super().answer(step, text)
        elif text.strip():
            self.add_attachment(text)
        else:
            self.draft().check(self.ctx.policy)
            self.show_step(WriteStep.CONFIRM)

    def press(self, step: Step) -> None:
        if step is WriteStep.CONFIRM:
            self.show_step(WriteStep.SENDING, ask=False)
            self.send_draft(self.draft(), self.progress_callback())
        else:
            super().press(step)

    def allowed(self) -> dict[str, bool]:
        return super().allowed() | {
            "done_writing": self.step is WriteStep.BODY,
            "pick_file": self.step is WriteStep.ATTACHMENTS,
        }

    def unsent(self) -> bool:
        """A body or files that were not sent (kept also after Escape back to reading)."""
        written = False
        if self.query("#body"):  # made at the write step (part()): Textual's TextArea with it
            from textual.widgets import TextArea

            written = any(body.text.strip() for body in self.query("#body").results(TextArea))
        return written or any(files.files for files in self.query("#files").results(AttachmentList))

    def recover(self) -> None:
        if self.step is WriteStep.SENDING:
            self.show_step(WriteStep.CONFIRM, ask=False)

    def action_done_writing(self) -> None:
        if self.step is WriteStep.BODY:
            if self.ECHO_BODY and self.body.text.strip():
                self.chat.say(self.body.text, "user")
            self.show_step(WriteStep.ATTACHMENTS)

    def action_pick_file(self) -> None:
        """The file picker; the chosen file is attached as if its path had been typed.
        Over SSH it shows the session's upload folder and never leaves it."""
        if self.step is WriteStep.ATTACHMENTS:
            from tui.file_picker import FilePicker

            transfer = self.ctx.transfer
            root = transfer.upload if transfer else Path.cwd()
            self.app.push_screen(FilePicker(root, confined=transfer is not None), self._picked)

    def _picked(self, path: Path | None) -> None:
        if path is not None:
            self.take_answer(str(path))

    # --- files from a browser (``veilig serve web``) ------------------------------------

    @property
    def in_browser(self) -> bool:
        """``veilig serve web``: files come from the page and go to the browser's downloads."""
        return self.ctx.transfer is not None and self.ctx.transfer.in_browser

    def attaching(self) -> bool:
        """Whether the dialog is at its attachments step."""
        return self.step is WriteStep.ATTACHMENTS

    def file_uploaded(self, name: str) -> None:
        """``veilig serve web``: the page put ``name`` into this session's upload folder.
        At the attachments step it is attached at once; before, it waits there (Ctrl+O)."""
        transfer = self.ctx.transfer
        if transfer is None:
            return
        if not self.attaching():
            self.chat.say(
                _("{name} has arrived. Attach it when you add attachments (Ctrl+O).").format(
                    name=name
                ),
                "notice",
            )
            return
        try:
            self.add_attachment(str(transfer.upload / name))
        except InvalidInput as exc:
            self.show_error(str(exc))

    # --- sending ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def send_draft(self, draft: Draft, progress: Progress) -> None:
        self.post_message(self.Sealed(self.seal(draft, progress)))

    @on(Sealed)
    def _sealed(self, message: Sealed) -> None:
        self.clear_draft()
        self.sealed(message.result)
        self.outbox_due()

    # --- the draft --------------------------------------------------------------------

    def add_attachment(self, text: str) -> None:
        """Attach the file at ``text`` (a path). Raises InvalidInput with the reason."""
        attachment = self.ctx.attachment(Path(text.strip()).expanduser())
        added = self.files.take(attachment, self.ctx.policy)
        self.line.value = ""
        if not added:
            self.chat.say(_("{name} is already attached.").format(name=attachment.name), "notice")

    def say_upload_hint(self) -> None:
        """Over SSH or in the browser: how to put a file from your own computer into this
        session."""
        transfer = self.ctx.transfer
        if transfer is None:
            return
        if transfer.in_browser:
            self.chat.say(
                _(
                    "To attach a file from this computer or phone, use Add a file at the top "
                    "of the page (or drop the file onto the page). It is attached here at once."
                ),
                "notice",
            )
            return
        self.chat.say(ssh_upload_hint(transfer), "notice")

    def clear_draft(self) -> None:
        self.body.text = ""
        self.files.close_all()

    def draft(self) -> Draft:
        return Draft(
            subject=self.draft_subject(), body=self.body.text, attachments=tuple(self.files.files)
        )

    def summary(self) -> str:
        files = self.files.files
        if not files:
            # Not "with no attachments (0 B)": in Dutch "met geen bijlagen" does not read.
            return _(
                "Ready to send to {org}: \u201c{subject}\u201d, without attachments. "
                "Press Enter to send securely, or Escape to change something."
            ).format(org=self.addressee(), subject=self.draft_subject())
        count = ngettext("{n} attachment", "{n} attachments", len(files)).format(n=len(files))
        total = human_size(sum(f.size for f in files))
        return _(
            "Ready to send to {org}: \u201c{subject}\u201d with {count} ({total}). "
            "Press Enter to send securely, or Escape to change something."
        ).format(org=self.addressee(), subject=self.draft_subject(), count=count, total=total)

    def progress_callback(self) -> Progress:
        """A progress function for sealing in a thread: at most 100 screen updates."""
        from textual.widgets import ProgressBar

        bar = self.part("progress", ProgressBar)
        last = [-1]

        def progress(done: int, total: int) -> None:
            percent = done * 100 // total if total else 100
            if percent != last[0]:
                last[0] = percent
                self.app.call_from_thread(bar.update, total=total, progress=done)

        return progress
