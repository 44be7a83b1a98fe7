"""A conversation on screen, as the recipient and the desk see it: read, save, reply.

The messages as bubbles (one that does not open is said, the others still show);
Ctrl+D asks for a folder and saves every attachment there in a worker; Ctrl+E
writes a reply (:mod:`tui.writing`). A dialog fills in the core call that saves one
attachment (``save_one``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.binding import Binding
from textual.message import Message

from core.context import Context
from core.dialog import ReadStep, Step, WriteStep
from core.errors import CannotOpen
from core.i18n import N_, _
from tui.base import explain
from tui.writing import WRITE_WIDGETS, WritingScreen

if TYPE_CHECKING:  # names only: the first question waits for neither (tests/test_startup.py)
    from core.drafts import OpenedMessage
    from core.models import Direction
    from core.stream import ContentKey

READ_WIDGETS: dict[Step, tuple[str, ...]] = {
    ReadStep.READ: (),
    ReadStep.SAVE: ("line",),
    **WRITE_WIDGETS,
}


# The keys of reading; each dialog lists them in its BINDINGS, in its own order.
REPLY_KEY = Binding("ctrl+e", "reply", _("Reply"), id="reply")
SAVE_KEY = Binding("ctrl+d", "save", _("Save attachments"), id="save")


class ReadingScreen(WritingScreen):
    """A dialog that shows a conversation, saves its attachments and replies to it."""

    WIDGETS = READ_WIDGETS
    ASK_SAVE: ClassVar[str | None] = N_(
        "In which folder do you want to save the attachments? Change the folder below if "
        "you like, and press Enter."
    )

    @dataclass
    class Saved(Message):
        paths: list[Path]

    def __init__(self, ctx: Context, title: str) -> None:
        super().__init__(ctx, title)
        self.messages: list[tuple[OpenedMessage, ContentKey]] = []
        self.loaded = False  # a conversation is on screen: it can be answered

    def save_one(self, opened: OpenedMessage, key: ContentKey, position: int, folder: Path) -> Path:
        """The core call that saves one attachment in ``folder`` (runs in a thread)."""
        raise NotImplementedError

    def show_thread(
        self, messages: list[tuple[OpenedMessage, ContentKey]], damaged: int, mine: Direction
    ) -> None:
        """The messages as bubbles, ``mine`` on the right; a word on those that do not open."""
        self.messages = messages
        self.loaded = True
        for opened, _key in messages:
            self.show_message(opened, mine=mine)
        if damaged:
            self.show_error(explain(CannotOpen("damaged")))

    def has_files(self) -> bool:
        return any(opened.attachments for opened, _key in self.messages)

    def draft_subject(self) -> str:
        subject = self.messages[-1][0].subject if self.messages else ""
        return (
            subject
            if subject.lower().startswith("re:")
            else _("Re: {subject}").format(subject=subject)
        )

    # --- the steps --------------------------------------------------------------------

    def enter(self, step: Step, *, ask: bool) -> None:
        if step is ReadStep.READ:
            self.focus_next()
        elif step is ReadStep.SAVE:
            folder = self.save_folder()
            self.ask_line(_("Folder to save the attachments in"), self.shown_path(folder))
            if ask and self.ASK_SAVE:
                self.chat.say(_(self.ASK_SAVE))
        else:
            super().enter(step, ask=ask)

    def answer(self, step: Step, text: str) -> None:
        if step is not ReadStep.SAVE:
            super().answer(step, text)
            return
        transfer = self.ctx.transfer
        if transfer is not None:  # over SSH: named as in the file area, as sftp shows it
            self.save_attachments(transfer.typed_folder(text))
            return
        folder = Path(text.strip() or ".").expanduser()
        if folder.exists():
            self.save_attachments(folder)
            return

        def decided(yes: bool | None) -> None:
            if not yes:
                self.line.focus()
                return
            try:
                folder.mkdir(parents=True)
            except OSError:
                self.show_error(_("The folder {path} could not be made.").format(path=folder))
                return
            self.save_attachments(folder)

        question = _("There is no folder {path}. Make it, and save the attachments there?")
        from tui.confirm import ConfirmScreen  # not before the first question

        self.app.push_screen(ConfirmScreen(question.format(path=folder)), decided)

    def allowed(self) -> dict[str, bool]:
        reading = self.step is ReadStep.READ
        return super().allowed() | {
            "save": reading and self.has_files(),
            "reply": reading and self.loaded,
        }

    def action_save(self) -> None:
        if self.step is ReadStep.READ and self.in_browser:
            # The browser, not the person, picks the folder: no question.
            self.save_attachments(self.save_folder())
        elif self.step is ReadStep.READ:
            self.show_step(ReadStep.SAVE)

    def action_reply(self) -> None:
        if self.step is ReadStep.READ:
            self.show_step(WriteStep.BODY)

    # --- saving -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def save_attachments(self, folder: Path) -> None:
        saved = [
            self.save_one(opened, key, position, folder)
            for opened, key in self.messages
            for position in range(len(opened.attachments))
        ]
        self.post_message(self.Saved(saved))

    @on(Saved)
    def _saved(self, saved: Saved) -> None:
        listing = "\n".join(self.shown_path(p) for p in saved.paths)
        self.chat.say(_("Saved:\n{paths}").format(paths=listing), "notice")
        self.say_download_hint(saved.paths)
        self.show_step(ReadStep.READ, ask=False)

    def save_folder(self) -> Path:
        """Where attachments are saved: over SSH or in the browser the session's download
        folder."""
        return self.ctx.transfer.download if self.ctx.transfer else Path.cwd()

    def shown_path(self, path: Path) -> str:
        """A saved file as the person can name it: over SSH, inside their file area; in
        the browser, its name (the browser decides the folder)."""
        transfer = self.ctx.transfer
        if transfer is not None and transfer.in_browser:
            return path.name
        if transfer is not None:
            return transfer.shown(path)
        return str(path)

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
