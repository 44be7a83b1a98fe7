"""*Sent*: per recipient notified, opened (when, how), replied, status; Ctrl+X revokes."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from core.desk import Desk, SentRow
from core.i18n import _
from core.models import Method
from tui.base import BaseScreen
from tui.desk.cells import Row, cell, fill, short
from tui.desk.confirm import ConfirmScreen
from tui.widgets import Notice


class SentScreen(BaseScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", _("Back"), id="back"),
        Binding("ctrl+x", "revoke", _("Revoke"), id="revoke"),
        Binding("f5", "refresh", _("Refresh"), id="refresh"),
    ]

    @dataclass
    class Loaded(Message):
        rows: list[SentRow]

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk
        self.rows: list[SentRow] = []

    def compose(self) -> ComposeResult:
        yield Static(_("Sent · per recipient"), id="title", markup=False)
        yield Notice(id="error")
        yield DataTable(id="sent", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.show_rows([])  # the column labels while the rows load
        self.load()

    def show_failure(self, text: str) -> None:
        self.query_one("#error", Notice).say(text)  # above the rows, which stay

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def load(self) -> None:
        self.post_message(self.Loaded(self.desk.sent()))

    @on(Loaded)
    def _loaded(self, loaded: Loaded) -> None:
        self.show_rows(loaded.rows)

    def show_rows(self, rows: list[SentRow]) -> None:
        self.rows = rows
        now = self.desk.ctx.clock()
        lines: list[Row] = []
        for row in rows:
            opened = short(row.opened_at)
            if row.opened_at and row.verified_via:
                opened += " (" + (_("SMS") if row.verified_via is Method.SMS else _("e-mail")) + ")"
            if row.revoked_at:
                status = _("revoked {when}").format(when=short(row.revoked_at))
            elif now >= row.expires_at:
                status = _("expired")
            else:
                status = _("until {when}").format(when=short(row.expires_at)[:5])
            cells = (
                cell(row.contact.email),
                opened,
                short(row.replied_at),
                short(row.notified_at) if row.notified_at else _("queued"),
                status,
                # A message that does not open is set apart, as in the inbox.
                cell(_("(cannot be opened)") if row.damaged else row.subject),
            )
            lines.append((row.participant.id, cells))
        # What staff look for first comes first: it must fit 80 columns.
        labels = (_("To"), _("Opened"), _("Replied"), _("Notified"), _("Status"), _("Subject"))
        table = self.query_one("#sent", DataTable)
        fill(table, labels, lines)
        self.query_one("#error", Notice).say("")
        table.focus()

    def action_revoke(self) -> None:
        table = self.query_one("#sent", DataTable)
        if not self.rows or table.cursor_row >= len(self.rows):
            return
        row = self.rows[table.cursor_row]
        if row.revoked_at:
            return
        question = _("Revoke access for {email}? The message can then no longer be opened.").format(
            email=row.contact.email
        )

        def decided(yes: bool | None) -> None:
            if yes:
                self.revoke(row.participant.id)

        self.app.push_screen(ConfirmScreen(question), decided)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def revoke(self, participant_id: str) -> None:
        self.desk.revoke(participant_id)
        self.post_message(self.Loaded(self.desk.sent()))
