"""The desk's inbox: conversations, newest first, a page at a time (← newer, → older)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from core.desk import Desk, InboxRow
from core.i18n import _
from core.models import Direction
from tui.desk.compose import ComposeScreen
from tui.desk.conversation import ConversationScreen
from tui.desk.sent import SentScreen
from tui.desk.table import Row, TableScreen, cell, when

INBOX_PAGE = 50  # conversations per page of the inbox; ← and → turn the pages


class InboxScreen(TableScreen):
    BINDINGS = [
        Binding("enter", "open", _("Open"), id="open", show=True),
        Binding("ctrl+n", "compose", _("New message"), id="new"),
        Binding("ctrl+t", "sent", _("Sent"), id="sent"),
        Binding("f5", "refresh", _("Refresh"), id="refresh"),
        # priority: the table would take ← and → for its (row) cursor otherwise.
        Binding("left", "newer", _("Newer"), id="newer", priority=True),
        Binding("right", "older", _("Older"), id="older", priority=True),
        Binding("ctrl+q", "app.quit", _("Lock and quit"), id="quit"),
    ]

    TABLE_ID = "inbox"

    @dataclass
    class Loaded(Message):
        rows: list[InboxRow]
        more: bool  # older conversations than this page exist

    def __init__(self, desk: Desk) -> None:
        super().__init__(_("Inbox · {staff}").format(staff=desk.staff.email))
        self.desk = desk
        self.rows: list[InboxRow] = []
        self.away = False
        self.page_start = 0  # of the page shown, newest first
        self.has_older = False  # older conversations than this page exist

    def on_mount(self) -> None:
        self.load()

    def on_screen_suspend(self) -> None:
        self.away = True

    def on_unmount(self) -> None:
        # The desk closes (quit) or locks after idling (a fresh log-in screen replaces
        # this one): the session ends, for the audit log too (NEN 7513: log-out).
        self.desk.log_out()

    def on_screen_resume(self) -> None:
        # Reload when the screen comes back, not when it is first shown: that resume
        # comes with the mount, and loading on both built and painted the table twice.
        if self.away:
            self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "newer":
            return self.page_start > 0
        if action == "older":
            return self.has_older
        return True

    def action_older(self) -> None:
        if self.has_older:
            self.page_start += INBOX_PAGE
            self.load()

    def action_newer(self) -> None:
        if self.page_start:
            self.page_start = max(0, self.page_start - INBOX_PAGE)
            self.load()

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def load(self) -> None:
        # One row more than a page tells whether there are older conversations.
        rows = self.desk.inbox(limit=INBOX_PAGE + 1, offset=self.page_start)
        self.post_message(self.Loaded(rows[:INBOX_PAGE], len(rows) > INBOX_PAGE))

    @on(Loaded)
    def _show(self, loaded: Loaded) -> None:
        rows, more = loaded.rows, loaded.more
        self.rows, self.has_older = rows, more
        title = self.title_text
        if self.page_start or more:
            title += " · " + _("{first}–{last}").format(
                first=self.page_start + 1, last=self.page_start + len(rows)
            )
        self.query_one("#title", Static).update(title)
        self.refresh_bindings()
        labels = ("", _("Who"), _("E-mail"), _("When"), _("Files"), _("Last word"))
        lines: list[Row] = [
            (
                row.conversation.id,
                (
                    "●" if row.unread else " ",
                    cell(row.who),
                    cell(row.email),
                    when(row.when),
                    str(row.attachments),
                    _("them") if row.last_direction == Direction.INBOUND else _("we"),
                ),
            )
            for row in rows
        ] or [(None, ("", _("No conversations yet."), "", "", "", ""))]
        self.show_table(labels, lines)

    def action_open(self) -> None:
        row = self.table.cursor_row
        if not self.rows or row >= len(self.rows):
            return
        self.app.push_screen(ConversationScreen(self.desk, self.rows[row].conversation.id))

    @on(DataTable.RowSelected, "#inbox")
    def _selected(self) -> None:
        self.action_open()

    def action_compose(self) -> None:
        self.app.push_screen(ComposeScreen(self.desk))

    def action_sent(self) -> None:
        self.app.push_screen(SentScreen(self.desk))
