"""The Textual application: hosts a screen and runs the outbox in the background."""

from __future__ import annotations

import logging
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from core.context import Context
from core.i18n import _

log = logging.getLogger(__name__)

OUTBOX_POLL_SECONDS = 5.0


class VeiligApp(App[None]):
    CSS_PATH = Path(__file__).with_name("veilig.tcss")
    TITLE = "veilig"
    BINDINGS = [Binding("ctrl+q", "quit", _("Quit"), id="quit", priority=True)]
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, ctx: Context, first_screen: Screen[None]) -> None:
        super().__init__()
        self.ctx = ctx
        self.first_screen = first_screen
        self._delivering = False
        self._deliver_again = False

    def on_mount(self) -> None:
        self.push_screen(self.first_screen)
        # Mails queued while the SMTP server was down go out once it is back.
        self.set_interval(OUTBOX_POLL_SECONDS, self.deliver_outbox)

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
