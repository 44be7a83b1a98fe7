"""A conversation at the desk: read it, save its attachments, reply (Ctrl+E).

Reading, saving and replying are the shared flows of :mod:`tui.reading` and
:mod:`tui.writing`; here: who it is with, and the desk's own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.binding import Binding
from textual.message import Message

from core.desk import Desk, ThreadView
from core.dialog import READ_BACK, ReadStep
from core.errors import CannotOpen
from core.i18n import N_, _, format_datetime
from core.models import Direction, Hold
from core.sealing import Draft, OpenedMessage, Progress
from core.stream import ContentKey
from tui.chat import BACK_KEY
from tui.desk.confirm import ConfirmScreen
from tui.desk.hold import ReasonScreen
from tui.reading import REPLY_KEY, SAVE_KEY, ReadingScreen
from tui.writing import DONE_KEY, PICK_KEY

HOLD_KEY = Binding("ctrl+k", "hold", _("Keep / release"), id="hold")


class ConversationScreen(ReadingScreen):
    BINDINGS = [BACK_KEY, REPLY_KEY, SAVE_KEY, DONE_KEY, PICK_KEY, HOLD_KEY]
    BACK = READ_BACK
    ASK_BODY = N_("Write your reply. Ctrl+S when you are done.")
    ASK_ATTACHMENTS = N_(
        "Attach files? Type a path and press Enter; Enter on an empty line when done."
    )
    ASK_SAVE = None  # the folder is asked on the line, without a bubble
    ECHO_BODY = False  # the reply shows in the conversation, reloaded once it is sent

    @dataclass
    class Loaded(Message):
        view: ThreadView
        hold: tuple[Hold, str] | None = None  # kept from the purge: since, by, why

    def __init__(self, desk: Desk, conversation_id: str) -> None:
        super().__init__(desk.ctx, _("Conversation"))
        self.desk = desk
        self.conversation_id = conversation_id
        self.view: ThreadView | None = None
        self.held = False
        self.step = ReadStep.READ

    def on_mount(self) -> None:
        self.show_only()
        self.load()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def load(self) -> None:
        view = self.desk.thread(self.conversation_id)
        self.post_message(self.Loaded(view, self.desk.hold_of(self.conversation_id)))

    @on(Loaded)
    def _show(self, loaded: Loaded) -> None:
        self.view = view = loaded.view
        self.held = loaded.hold is not None
        if loaded.hold is not None:
            hold, reason = loaded.hold
            self.chat.say(
                _("Kept from the purge since {when} by {who}: {reason}").format(
                    when=format_datetime(hold.placed_at), who=hold.placed_by, reason=reason
                ),
                "notice",
            )
        for participant, contact in view.participants:
            who = f"{contact.name} <{contact.email}>" if contact.name else contact.email
            if contact.phone:
                who += f", {contact.phone}"
            if participant.revoked_at:
                who += " · " + _("access revoked")
            self.chat.say(_("Conversation with {who}").format(who=who), "notice")
        self.show_thread(view.messages, len(view.damaged), mine=Direction.OUTBOUND)
        hint = (
            (
                _("Ctrl+E: reply · Ctrl+D: save attachments · Esc: back to the inbox.")
                if self.has_files()
                else _("Ctrl+E: reply · Esc: back to the inbox.")
            )
            + " "
            + _("Ctrl+K: keep from the purge, or release.")
        )
        self.chat.say(hint, "notice")
        self.refresh_bindings()

    def allowed(self) -> dict[str, bool]:
        reading = self.step is ReadStep.READ
        return super().allowed() | {
            "back": reading or self.step in self.BACK,
            "hold": reading and self.view is not None,
        }

    def action_back(self) -> None:
        if self.step is ReadStep.READ:
            self.app.pop_screen()
        else:
            super().action_back()

    def addressee(self) -> str:
        if self.view and self.view.participants:
            active = [c for p, c in self.view.participants if p.revoked_at is None]
            return ", ".join(c.name or c.email for c in active) or _("nobody (access revoked)")
        first = next(
            (m for m, _k in self.messages if m.message.direction == Direction.INBOUND), None
        )
        return first.sender.name if first else _("the recipient")

    # --- keeping it from the purge (core.retention) -----------------------------------

    def action_hold(self) -> None:
        if self.step is not ReadStep.READ or self.view is None:
            return
        if self.held:
            question = _("Release the hold? The purge then destroys it when its time has come.")

            def release(yes: bool | None) -> None:
                if yes:
                    self.change_hold(None)

            self.app.push_screen(ConfirmScreen(question), release)
            return

        def keep(reason: str | None) -> None:
            if reason:
                self.change_hold(reason)

        self.app.push_screen(ReasonScreen(), keep)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def change_hold(self, reason: str | None) -> None:
        try:
            if reason is None:
                self.desk.lift_hold(self.conversation_id)
            else:
                self.desk.hold(self.conversation_id, reason)
        except CannotOpen:
            # The purge came first (the desk was open on it): say so, not "damaged".
            self.app.call_from_thread(self.purged_meanwhile)
            return
        self.app.call_from_thread(self.held_changed, reason)

    def purged_meanwhile(self) -> None:
        self.chat.say(
            _(
                "This conversation is no longer here: it was deleted at the end of its "
                "retention period. Press Esc for the inbox."
            ),
            "error",
        )

    def held_changed(self, reason: str | None) -> None:
        self.held = reason is not None
        self.app.notify(
            _("Kept from the purge.") if reason else _("The hold is released."), markup=False
        )
        self.chat.remove_children()
        self.load()

    def save_one(self, opened: OpenedMessage, key: ContentKey, position: int, folder: Path) -> Path:
        return self.desk.save_attachment(opened, key, position, folder)

    # --- replying (the flow is tui.writing's) -----------------------------------------

    def seal(self, draft: Draft, progress: Progress) -> object:
        return self.desk.reply(self.conversation_id, draft, progress)

    def sealed(self, result: object) -> None:
        self.show_step(ReadStep.READ, ask=False)
        self.chat.remove_children()
        self.load()  # the thread again, with the reply in it
        self.app.notify(_("Sent securely. The recipient gets a notification e-mail."))
