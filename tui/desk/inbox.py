"""The desk's inbox: conversations in views (1 mine, 2 unassigned, 3 all, 4 closed),
searched as staff type (/), newest first, a page at a time (← newer, → older).

T takes the conversation under the cursor, C closes it, O reopens a closed one. Every
few seconds the inbox asks whether anything changed (Desk.changes: one indexed
query) and shows it: a colleague's take, reply or close, a new message. The same round
indexes new messages for search (Desk.index_pending).

What a row shows is tui.desk.inbox_rows; T, C and O are tui.desk.inbox_acts.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from core.desk import Desk, InboxRow
from core.errors import VeiligError
from core.i18n import _
from core.models import ConversationState, View
from core.team import TakenMeanwhile
from tui.base import NOTICE_SECONDS
from tui.desk.compose import ComposeScreen
from tui.desk.conversation import ConversationScreen
from tui.desk.inbox_acts import ConversationActs
from tui.desk.inbox_rows import VIEWS, inbox_labels, inbox_lines, nothing_here, views_bar
from tui.desk.sent import SentScreen
from tui.desk.table import TableScreen
from tui.widgets import LiteralInput, Notice

INBOX_PAGE = 50  # conversations per page of the inbox; ← and → turn the pages
# How often an open inbox asks whether anything changed: a colleague's change shows
# within this; each ask is one indexed query (Desk.changes).
CHANGES_SECONDS = 3.0


class InboxScreen(ConversationActs, TableScreen):
    BINDINGS = [
        Binding("enter", "open", _("Open"), id="open", show=True),
        Binding("t", "take", _("Take"), id="take"),
        Binding("c", "close_conversation", _("Close"), id="close"),
        Binding("o", "reopen", _("Reopen"), id="reopen"),
        Binding("slash", "search", _("Search"), id="search"),
        Binding("ctrl+f", "search", _("Search"), id="find", show=False),
        Binding("escape", "end_search", _("All results"), id="end-search", show=False),
        *(
            Binding(str(n), f"view('{view.value}')", _(label), id=f"view-{view}", show=False)
            for n, (view, label) in enumerate(VIEWS, start=1)
        ),
        Binding("ctrl+n", "compose", _("New message"), id="new"),
        Binding("ctrl+t", "sent", _("Sent"), id="sent"),
        Binding("f5", "refresh", _("Refresh"), id="refresh", show=False),
        Binding("f2", "password", _("Password"), id="password"),
        # priority: the table would take ← and → for its (row) cursor otherwise.
        Binding("left", "newer", _("Newer"), id="newer", priority=True),
        Binding("right", "older", _("Older"), id="older", priority=True),
        Binding("ctrl+q", "app.quit", _("Lock and quit"), id="quit"),
    ]

    TABLE_ID = "inbox"
    AUTO_FOCUS = "#inbox"  # the keys T, C, O, 1–4 work on the table; / goes to search

    @dataclass
    class Loaded(Message):
        rows: list[InboxRow]
        more: bool  # older conversations than this page exist
        mark: int  # Desk.changes() before the rows were read
        term: str  # the search they answer ("": the view)

    @dataclass
    class Changes(Message):
        mark: int

    @dataclass
    class Indexed(Message):
        count: int  # conversations indexed in this round so far
        done: bool

    def __init__(self, desk: Desk) -> None:
        super().__init__(_("Inbox · {staff}").format(staff=desk.staff.email))
        self.desk = desk
        self.rows: list[InboxRow] = []
        self.away = False
        self.view = View.ALL
        self.term = ""  # the search shown ("": the view)
        self.page_start = 0  # of the page shown, newest first
        self.has_older = False  # older conversations than this page exist
        self.mark = -1  # Desk.changes() of what is shown
        self.indexing = False
        self.index_after_load = False  # a search index round waits for the rows

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield widget
            if widget.id == "title":
                yield Static(id="views", markup=False)
                yield LiteralInput(
                    id="search",
                    placeholder=_("Search: name, e-mail address, subject or reference (/)"),
                    compact=True,
                )
                yield Notice(id="found")

    @property
    def search_box(self) -> Input:
        return self.query_one("#search", Input)

    def on_mount(self) -> None:
        self.show_views()
        self.load_then_index()
        self.set_interval(CHANGES_SECONDS, self.look_for_changes)

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
            self.away = False
            self.load_then_index()  # a message sent from the desk: its subject for search

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A key that does not apply here is shown dimmed (None), not hidden: the footer
        # keeps the same keys from row to row and page to page, so moving the cursor
        # only dims or lights a key instead of laying the footer out again
        # (tui.footer.QuietFooter; docs/PERFORMANCE.md "Desk at scale").
        typing = self.focused is self.search_box
        row = self.current()
        if action == "newer":
            return (self.page_start > 0 and not typing) or None
        if action == "older":
            return (self.has_older and not typing) or None
        if action == "end_search":
            return bool(self.term) or typing
        if action in ("take", "close_conversation", "reopen"):
            if row is None:
                return None
            state = row.conversation.state
            if action == "take":
                return row.conversation.assignee_id != self.desk.staff.id or None
            closed = state is ConversationState.CLOSED
            return (not closed if action == "close_conversation" else closed) or None
        return True

    def current(self) -> InboxRow | None:
        row = self.table.cursor_row
        return self.rows[row] if self.rows and 0 <= row < len(self.rows) else None

    # --- views, pages, search ---------------------------------------------------------

    def show_views(self) -> None:
        self.query_one("#views", Static).update(views_bar(self.view, self.term))

    def action_view(self, view: str) -> None:
        self.view, self.page_start = View(view), 0
        if self.term:
            self.search_box.value = ""  # a view, not the search any more
        self.term = ""
        self.show_views()
        self.load()

    def action_search(self) -> None:
        self.search_box.focus()

    def action_end_search(self) -> None:
        self.search_box.value = ""
        self.table.focus()

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        term = event.value.strip()
        if term != self.term:
            self.term, self.page_start = term, 0
            self.show_views()
            self.load()

    @on(Input.Submitted, "#search")
    def _to_results(self) -> None:
        self.table.focus()

    def action_older(self) -> None:
        if self.has_older:
            self.page_start += INBOX_PAGE
            self.load()

    def action_newer(self) -> None:
        if self.page_start:
            self.page_start = max(0, self.page_start - INBOX_PAGE)
            self.load()

    def load_then_index(self) -> None:
        """Load the rows, and index for search once they are on screen (or the load
        failed). Both at once made the rows wait: each takes SQLite's write lock for its
        transactions and the Python lock for its decryptions, and the index round held
        them while the page waited (docs/PERFORMANCE.md, "Inbox at 100,000 once
        more")."""
        self.index_after_load = True
        self.load()

    def _index_if_waiting(self) -> None:
        if self.index_after_load:
            self.index_after_load = False
            self.index()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "core" and event.state is WorkerState.ERROR:
            self._index_if_waiting()  # the rows failed: search still gets what is new

    @work(thread=True, exclusive=True, group="core", exit_on_error=False)
    def load(self) -> None:
        term, view, start = self.term, self.view, self.page_start
        mark = self.desk.changes()
        # One row more than a page tells whether there are older conversations.
        if term:
            rows = self.desk.search(term, limit=INBOX_PAGE + 1, offset=start)
        else:
            rows = self.desk.inbox(view, limit=INBOX_PAGE + 1, offset=start)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(rows[:INBOX_PAGE], len(rows) > INBOX_PAGE, mark, term))

    @on(Loaded)
    def _show(self, loaded: Loaded) -> None:
        if loaded.term != self.term:
            return  # an answer to what was typed before: the newer one is on its way
        rows, more = loaded.rows, loaded.more
        changed = rows != self.rows or self.mark == -1
        self.rows, self.has_older, self.mark = rows, more, loaded.mark
        title = self.title_text
        if self.page_start or more:
            title += " · " + _("{first}–{last}").format(
                first=self.page_start + 1, last=self.page_start + len(rows)
            )
        self.query_one("#title", Static).update(title)
        self.say_found()
        self.refresh_bindings()
        if changed:
            lines = inbox_lines(rows, self.desk.staff.id, self.nothing())
            self.show_table(inbox_labels(), lines, focus=self.focused is not self.search_box)
        # else: nothing new, the cursor and the table stay as they are
        self._index_if_waiting()

    def nothing(self) -> str:
        return nothing_here(self.term, self.view, self.page_start)

    def say_found(self) -> None:
        found = self.query_one("#found", Notice)
        if self.indexing:
            found.say(_("Indexing conversations for search…"))
        elif self.term:
            found.say(_("Search across all conversations. Esc: back to the view."))
        else:
            found.say("")

    # --- what colleagues do, and the search index ---------------------------------------

    def look_for_changes(self) -> None:
        if not self.away and self.is_current:
            self.ask_changes()

    @work(thread=True, exclusive=True, group="changes", exit_on_error=False)
    def ask_changes(self) -> None:
        self.post_message(self.Changes(self.desk.changes()))

    @on(Changes)
    def _changes(self, changes: Changes) -> None:
        busy = any(w.group in ("core", "act") and w.is_running for w in self.workers)
        if changes.mark != self.mark and not self.away and not busy:
            self.load_then_index()

    @work(thread=True, exclusive=True, group="index", exit_on_error=False)
    def index(self) -> None:
        """Index conversations that are new to the search index (messages from outside,
        and everyone's after a new mailbox key), a batch at a time."""
        count = 0
        while batch := self.desk.index_pending():
            count += batch
            self.post_message(self.Indexed(count, done=False))
        self.post_message(self.Indexed(count, done=True))

    @on(Indexed)
    def _indexed(self, indexed: Indexed) -> None:
        self.indexing = not indexed.done and indexed.count > 0
        self.say_found()
        if indexed.done and indexed.count and self.term:
            self.load()  # what was just indexed may be what is searched for

    # --- acting on a conversation ------------------------------------------------------

    def action_open(self) -> None:
        row = self.current()
        if row is not None:
            self.app.push_screen(ConversationScreen(self.desk, row.conversation.id))

    @on(DataTable.RowSelected, "#inbox")
    def _selected(self) -> None:
        self.action_open()

    @on(DataTable.RowHighlighted, "#inbox")
    def _highlighted(self) -> None:
        self.refresh_bindings()  # take, close or reopen, as the row allows

    @on(ConversationActs.Acted)
    def _acted(self) -> None:
        self.load()

    def explain(self, error: VeiligError) -> str:
        if isinstance(error, TakenMeanwhile):
            # Not the desk failing: a colleague was quicker. Said in a notification (the
            # line above the table goes with the next page), and the page shown as it is.
            self.notify(str(error), markup=False, timeout=NOTICE_SECONDS)
            self.load()
            return ""
        return super().explain(error)

    def action_compose(self) -> None:
        self.app.push_screen(ComposeScreen(self.desk))

    def action_sent(self) -> None:
        self.app.push_screen(SentScreen(self.desk))

    def action_password(self) -> None:
        from tui.desk.password import PasswordScreen

        self.app.push_screen(PasswordScreen(self.desk))
