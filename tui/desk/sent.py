"""*Sent*: per recipient notified, opened (when, how), replied, status; Ctrl+X revokes,
Ctrl+U unlocks a recipient locked after too many wrong codes."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.binding import Binding
from textual.message import Message

from core.desk import Desk, SentRow
from core.i18n import _
from core.models import Method
from tui.desk.confirm import ConfirmScreen
from tui.desk.table import Row, TableScreen, cell, short


class SentScreen(TableScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", _("Back"), id="back"),
        Binding("ctrl+x", "revoke", _("Revoke"), id="revoke"),
        Binding("ctrl+u", "unlock", _("Unlock"), id="unlock"),
        Binding("f5", "refresh", _("Refresh"), id="refresh"),
    ]

    TABLE_ID = "sent"

    @dataclass
    class Loaded(Message):
        rows: list[SentRow]

    def __init__(self, desk: Desk) -> None:
        super().__init__(_("Sent · per recipient"))
        self.desk = desk
        self.rows: list[SentRow] = []

    def on_mount(self) -> None:
        self.show_rows([])  # the column labels while the rows load
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
            elif row.participant.locked_at:
                status = _("locked: Ctrl+U")
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
        self.show_table(labels, lines)

    def action_revoke(self) -> None:
        if not self.rows or self.table.cursor_row >= len(self.rows):
            return
        row = self.rows[self.table.cursor_row]
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

    def action_unlock(self) -> None:
        if not self.rows or self.table.cursor_row >= len(self.rows):
            return
        row = self.rows[self.table.cursor_row]
        if row.participant.locked_at and not row.revoked_at:
            self.unlock(row.participant.id)

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def unlock(self, participant_id: str) -> None:
        self.desk.unlock(participant_id)
        self.post_message(self.Loaded(self.desk.sent()))
