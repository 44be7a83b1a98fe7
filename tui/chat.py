"""The chat-like dialog shared by the guest's starter, the recipient and the desk's replies.

A scrolling conversation of bubbles above, one answer area below. The answer area
holds every kind of input a step may need; each step shows only its own
(``show_only``). Writing a message (body, attachments, confirm, send with progress)
is the same everywhere, so it lives here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, ProgressBar, Static, TextArea
from textual.worker import Worker, WorkerState

from core.context import Context
from core.display import human_size, literal
from core.errors import (
    CannotOpen,
    CodeRejected,
    InvalidInput,
    KeyDamaged,
    RateLimited,
    VeiligError,
)
from core.i18n import _, format_datetime, ngettext
from core.models import Direction
from core.sealing import Draft, OpenedMessage, check_attachments
from tui.file_picker import FilePicker
from tui.widgets import AttachmentList, ChatLog, LiteralInput, LiteralTextArea

log = logging.getLogger(__name__)

ANSWER_WIDGETS = ("line", "body", "files", "progress", "buttons")


class ChatScreen(Screen[None]):
    """Base for guided dialogs. Subclasses define the steps; this holds the parts."""

    def __init__(self, ctx: Context, title: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="title", markup=False)
        yield ChatLog(id="chat")
        with Vertical(id="answer"):
            # The other answer widgets are made when a step first needs them (part()):
            # mounting them all, hidden, delayed the first question.
            yield LiteralInput(id="line")
        yield Footer()

    # --- parts ----------------------------------------------------------------------

    @property
    def chat(self) -> ChatLog:
        return self.query_one("#chat", ChatLog)

    @property
    def line(self) -> Input:
        return self.query_one("#line", Input)

    @property
    def body(self) -> TextArea:
        return self.part("body")  # type: ignore[return-value]

    @property
    def files(self) -> AttachmentList:
        return self.part("files")  # type: ignore[return-value]

    @property
    def send_button(self) -> Button:
        self.part("buttons")
        return self.query_one("#send", Button)

    def part(self, widget_id: str) -> Widget:
        """The answer widget ``widget_id`` (one of ANSWER_WIDGETS), made and mounted,
        hidden, in its place below the others the first time it is asked for."""
        answer = self.query_one("#answer", Vertical)
        later = ANSWER_WIDGETS[ANSWER_WIDGETS.index(widget_id) + 1 :]
        before = None
        for child in answer.children:
            if child.id == widget_id:
                return child
            if before is None and child.id in later:
                before = child
        widget: Widget
        if widget_id == "body":
            widget = LiteralTextArea(id="body", soft_wrap=True, tab_behavior="focus")
        elif widget_id == "files":
            widget = AttachmentList(id="files")
        elif widget_id == "progress":
            widget = ProgressBar(id="progress", show_eta=False)
        elif widget_id == "buttons":
            widget = Vertical(id="buttons")
        else:
            raise ValueError(widget_id)
        widget.display = False
        answer.mount(widget, before=before)
        if widget_id == "buttons":
            widget.mount(Button(_("Send securely"), id="send", variant="success"))
        return widget

    def show_only(self, *widget_ids: str) -> None:
        for widget_id in ANSWER_WIDGETS:
            if widget_id in widget_ids:
                self.part(widget_id).display = True
            else:
                for widget in self.query_one("#answer", Vertical).children:
                    if widget.id == widget_id:
                        widget.display = False

    def ask_line(self, placeholder: str, value: str = "", *, password: bool = False) -> None:
        self.line.placeholder = placeholder
        self.line.value = value
        self.line.password = password
        self.line.focus()

    def show_error(self, text: str) -> None:
        """Say what went wrong; whatever was typed stays where it was."""
        self.chat.say(text, "error")
        if self.line.display:
            self.line.focus()
            self.line.select_all()  # kept, but selected: typing replaces it

    # --- writing a message ----------------------------------------------------------

    def add_attachment(self, text: str) -> None:
        """Attach the file at ``text`` (a path). Raises InvalidInput with the reason."""
        path = Path(text.strip()).expanduser()
        attachment = self.ctx.attachment(path)
        if any(f.path.resolve() == path.resolve() for f in self.files.files):
            attachment.close()
            self.line.value = ""
            self.chat.say(_("{name} is already attached.").format(name=attachment.name), "notice")
            return
        try:
            check_attachments((*self.files.files, attachment), self.ctx.policy)
        except InvalidInput:
            attachment.close()  # refused now, not after the others were encrypted
            raise
        self.line.value = ""
        self.files.add_file(attachment)

    def pick_file(self) -> None:
        """The file picker; the chosen file is attached as if its path had been typed.
        Over SSH it shows the session's upload folder and never leaves it."""
        transfer = self.ctx.transfer
        root = transfer.upload if transfer else Path.cwd()
        self.app.push_screen(FilePicker(root, confined=transfer is not None), self._picked)

    def save_folder(self) -> Path:
        """Where attachments are saved: over SSH or in the browser the session's download
        folder."""
        return self.ctx.transfer.download if self.ctx.transfer else Path.cwd()

    @property
    def in_browser(self) -> bool:
        """``veilig serve web``: files come from the page and go to the browser's downloads."""
        return self.ctx.transfer is not None and self.ctx.transfer.in_browser

    def shown_path(self, path: Path) -> str:
        """A saved file as the person can name it: over SSH, inside their file area; in
        the browser, its name (the browser decides the folder)."""
        transfer = self.ctx.transfer
        if transfer is not None and transfer.in_browser:
            return path.name
        if transfer is not None and path.is_relative_to(transfer.root):
            return str(path.relative_to(transfer.root))
        return str(path)

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
        self.chat.say(
            _(
                "You are connected over SSH. To attach a file from your own computer, open "
                "a second terminal there and type:\n{command}\nThen type the file's name "
                "here, or press Ctrl+O. Only this session can use this login.\n"
                "Or with sftp: {sftp} (then: put FILE upload/)"
            ).format(command=transfer.upload_command(), sftp=transfer.sftp_command()),
            "notice",
        )

    def say_download_hint(self, paths: Sequence[Path] = ()) -> None:
        """Over SSH: how to fetch saved attachments to your own computer. In the browser:
        hand them to the browser, which saves them in its downloads."""
        transfer = self.ctx.transfer
        if transfer is None:
            return
        if transfer.in_browser:
            for path in paths:
                self.app.deliver_binary(path, mime_type="application/octet-stream")
            self.chat.say(_("Your browser saves them in its downloads folder."), "notice")
            return
        self.chat.say(
            _(
                "To copy them to your own computer, type in a second terminal there:\n"
                "{command}\nThis works only while this session is open."
            ).format(command=transfer.download_command()),
            "notice",
        )

    def attaching(self) -> bool:
        """Whether the dialog is at its attachments step (screens with one say when)."""
        return False

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

    def _picked(self, path: Path | None) -> None:
        if path is not None:
            try:
                self.add_attachment(str(path))
            except InvalidInput as exc:
                self.show_error(str(exc))

    def clear_draft(self) -> None:
        self.body.text = ""
        for attachment in self.files.files:
            attachment.close()
        self.files.clear()
        self.files.files.clear()

    def draft(self, subject: str) -> Draft:
        return Draft(subject=subject, body=self.body.text, attachments=tuple(self.files.files))

    def summary(self, org: str, subject: str) -> str:
        files = self.files.files
        count = (
            ngettext("{n} attachment", "{n} attachments", len(files)).format(n=len(files))
            if files
            else _("no attachments")
        )
        total = human_size(sum(f.size for f in files))
        return _(
            "Ready to send to {org}: \u201c{subject}\u201d with {count} ({total}). "
            "Press Enter to send securely, or Escape to change something."
        ).format(org=org, subject=subject, count=count, total=total)

    def progress_callback(self):  # noqa: ANN201 - a closure for a thread worker
        """A progress function for sealing in a thread: at most 100 screen updates."""
        bar = self.part("progress")
        assert isinstance(bar, ProgressBar)
        last = [-1]

        def progress(done: int, total: int) -> None:
            percent = done * 100 // total if total else 100
            if percent != last[0]:
                last[0] = percent
                self.app.call_from_thread(bar.update, total=total, progress=done)

        return progress

    def show_message(self, opened: OpenedMessage, mine: Direction) -> None:
        """One message as a bubble: sender, time, subject, body, numbered attachments.
        The reader's own messages stand on the right, like their answers in the dialog."""
        sent = datetime.fromisoformat(opened.sent_at)
        # Names, subject and file names are one line each: made literal here, a newline
        # in them shows as ␊ instead of starting a fake "Subject:" line in the bubble.
        lines = [
            _("From {name} <{email}> · {when}").format(
                name=literal(opened.sender.name),
                email=literal(opened.sender.email),
                when=format_datetime(sent),
            ),
            _("Subject: {subject}").format(subject=literal(opened.subject)),
            "",
            opened.body,
        ]
        for n, attachment in enumerate(opened.attachments, 1):
            size = human_size(attachment.size)
            lines.append(f"📎 {n}. {literal(attachment.name)}  ({size})")
        kind = "user" if opened.message.direction == mine else "bot"
        self.chat.say("\n".join(lines), kind)

    # --- the one place for errors nobody foresaw --------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        # The kind only: an exception's text or traceback could quote what was typed.
        log.error("unexpected %s in %s", type(error).__name__, event.worker.name)
        self.recover()
        self.show_error(
            _("Something went wrong on our side. Nothing you typed is lost; please try again.")
        )

    def recover(self) -> None:
        """Put the screen back in a state where the person can try again."""


def explain(exc: VeiligError) -> str:
    """A domain error in words for the person at the keyboard."""
    if isinstance(exc, CannotOpen):
        return _(
            "This message cannot be opened: it was changed or damaged. Please tell the sender."
        )
    if isinstance(exc, KeyDamaged):
        return _(
            "The organisation's key is damaged, so nothing was sent. "
            "Please tell the organisation's administrator."
        )
    return str(exc)


def rate_message(exc: RateLimited) -> str:
    minutes = max(1, -(-exc.retry_after_seconds // 60))
    if exc.retry_after_seconds <= 60:
        return _("A code was sent a moment ago. Please wait {s} seconds for a new one.").format(
            s=exc.retry_after_seconds
        )
    return ngettext(
        "Too many codes were asked for. Try again in {n} minute.",
        "Too many codes were asked for. Try again in {n} minutes.",
        minutes,
    ).format(n=minutes)


def code_message(exc: CodeRejected) -> str:
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
