"""The Textual application: hosts a screen and runs the outbox in the background."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen

from core.context import Context
from core.i18n import _
from tui.base import BaseScreen
from tui.paste import keep_pastes_whole
from tui.web.events import FileUploaded

if TYPE_CHECKING:
    from tui.guest import GuestChoiceScreen

# tui.confirm and tui.guest (with their widgets) are imported when used, not before the
# first question (tests/test_startup.py).

log = logging.getLogger(__name__)

OUTBOX_POLL_SECONDS = 5.0
IDLE_CHECK_SECONDS = 15.0


class VeiligApp(App[None]):
    CSS_PATH = Path(__file__).with_name("veilig.tcss")
    TITLE = "veilig"
    BINDINGS = [
        Binding("ctrl+q", "quit", _("Quit"), id="quit", priority=True),
        # Tab moves the focus before the keys after it are handed out. As a plain binding
        # it ran only once the field had passed the Tab on, and keys that came in the same
        # burst (fast typing over SSH, a password manager) had been given to that field
        # already. No widget here takes Tab as text (every TextArea has tab_behavior
        # "focus").
        Binding("tab", "focus_next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", show=False, priority=True),
    ]
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        ctx: Context,
        first_screen: Screen[None],
        warm_up: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.first_screen = first_screen
        self.warm_up = warm_up  # opens the database once the first screen is drawn
        self._delivering = False
        self._deliver_again = False
        self.last_input_at = time.monotonic()
        self.closed_reason = ""
        self.first_frame_shown = False
        self._after_first_frame: list[Callable[[], object]] = []

    def get_driver_class(self) -> type[Driver]:
        driver_class = super().get_driver_class()
        keep_pastes_whole(driver_class)  # a paste with an ESC in it stays whole (tui.paste)
        return driver_class

    def on_mount(self) -> None:
        self.push_screen(self.first_screen)
        if self.warm_up is not None:
            self.after_first_frame(self._warm_up)
        # Mails queued while the SMTP server was down go out once it is back.
        self.set_interval(OUTBOX_POLL_SECONDS, self.deliver_outbox)
        self.set_interval(IDLE_CHECK_SECONDS, self.lock_if_idle)

    def after_first_frame(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the first frame is on the terminal (at once after that):
        what the first question does not need waits for it (docs/PERFORMANCE.md)."""
        if self.first_frame_shown:
            self.call_later(callback)
        else:
            self._after_first_frame.append(callback)

    def on_ready(self) -> None:
        """Textual's Ready: posted as the first frame is composed, and before it is
        written (that waits for the end of the start's batch of updates). The callbacks
        wait for the screen's refresh after it, which writes the frame."""
        self.screen.call_after_refresh(self._first_frame_shown)

    def _first_frame_shown(self) -> None:
        self.first_frame_shown = True
        callbacks, self._after_first_frame = self._after_first_frame, []
        for callback in callbacks:
            self.call_later(callback)

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """Open the database while the person reads the first question. Should it fail,
        the app ends with the reason, as it did when the database opened first."""
        assert self.warm_up is not None
        try:
            self.warm_up()
        except Exception as exc:
            log.exception("the database could not be opened")
            self.call_from_thread(self.exit, return_code=2, message=f"veilig: {exc}")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.Paste)):
            self.last_input_at = time.monotonic()
        await super().on_event(event)

    @on(FileUploaded)
    def file_uploaded(self, event: FileUploaded) -> None:
        """``veilig serve web``: the page uploaded a file; the dialog on top takes it."""
        from tui.writing import WritingScreen

        for screen in reversed(self.screen_stack):
            if isinstance(screen, WritingScreen):
                screen.file_uploaded(event.name)
                return

    async def action_quit(self) -> None:
        """Ctrl+Q. A message being written is not thrown away without asking; Ctrl+Q
        again, or Y, quits."""
        from tui.confirm import ConfirmScreen

        asked = isinstance(self.screen, ConfirmScreen)
        if not asked and any(
            screen.unsent() for screen in self.screen_stack if isinstance(screen, BaseScreen)
        ):

            def decided(yes: bool | None) -> None:
                if yes:
                    self.exit()

            question = _("Quit? The message you are writing is not sent and will be lost.")
            self.push_screen(ConfirmScreen(question), decided)
            return
        self.exit()

    def action_help_quit(self) -> None:
        """Ctrl+C: people press it to stop a program; say which key does, in their words
        (Textual's own notice is English only)."""
        self.notify(_("Press Ctrl+Q to quit."), title=_("Do you want to quit?"), markup=False)

    def lock_if_idle(self) -> None:
        idle = time.monotonic() - self.last_input_at
        if idle >= self.ctx.policy.idle_lock.total_seconds():
            self.last_input_at = time.monotonic()
            self.lock_up()

    def lock_up(self) -> None:
        """Left alone too long. Screens that hold an unlocked key or message override
        ``lock_screen``; the default closes the app: nothing unlocked stays on screen."""
        lock_screen = getattr(self.first_screen, "lock_screen", None)
        if callable(lock_screen):
            replacement = lock_screen()
            while len(self.screen_stack) > 2:
                self.pop_screen()
            self.switch_screen(replacement)
            self.first_screen = replacement
            return
        self.closed_reason = _("veilig closed after {n} minutes without activity.").format(
            n=int(self.ctx.policy.idle_lock.total_seconds() // 60)
        )
        self.exit(message=self.closed_reason)

    def _fatal_error(self) -> None:
        """Textual's crash report, but without local variables.

        Textual's own prints every local of every frame, and ours hold what people type:
        codes, references, passwords, message text. The report goes to the terminal and
        from there into scrollback, ``script`` logs and support tickets. Overrides a private
        Textual method because there is no public switch; tests/abuse/
        test_secrets_in_the_open.py fails if a Textual upgrade stops this from applying."""
        from rich.traceback import Traceback

        self.bell()
        self.panic(Traceback(show_locals=False, width=None))

    def get_key_display(self, binding: Binding) -> str:
        """Keys as the instructions on screen name them: Ctrl+S, Esc, Enter."""
        names = {
            "escape": "Esc",
            "delete": "Delete",
            "backspace": "Backspace",
            "enter": "Enter",
            "left": "←",
            "right": "→",
            "slash": "/",
        }
        parts = binding.key.split("+")
        key = names.get(parts[-1], parts[-1].upper() if len(parts[-1]) <= 3 else parts[-1])
        return "+".join([p.capitalize() for p in parts[:-1]] + [key])

    @on(BaseScreen.OutboxDue)
    def _outbox_due(self) -> None:
        self.deliver_outbox()

    def on_guest_choice_screen_chosen(self, chosen: GuestChoiceScreen.Chosen) -> None:
        """GuestChoiceScreen.Chosen, by its handler's name: tui.guest is not imported
        unless `veilig guest` shows it."""
        self.first_screen = chosen.screen  # the idle lock asks the dialog chosen
        self.switch_screen(chosen.screen)

    def deliver_outbox(self) -> None:
        """Deliver what is due. Never two rounds at once, and never cancel one midway:
        a send cut off after the server accepted it would be sent again."""
        if self._delivering:
            self._deliver_again = True
            return
        self._delivering = True
        self._delivery_round()

    @work(group="outbox", exit_on_error=False)
    async def _delivery_round(self) -> None:
        try:
            while True:
                self._deliver_again = False
                report = await self.ctx.outbox.deliver_due()
                if report.failed:
                    log.warning("outbox: %d failed, %d pending", report.failed, report.pending)
                if not self._deliver_again:
                    break
        finally:
            self._delivering = False
