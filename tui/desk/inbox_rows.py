"""What the inbox shows of its rows: the view bar, the columns, a row's cells, and
the line in an empty table. Plain functions of the rows (tui.desk.inbox loads them)."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from core.desk import InboxRow
from core.i18n import N_, _
from core.models import ConversationState, View
from tui.desk.table import Row, cell, when

CURRENT = Style(reverse=True, bold=True)  # the view shown, in the view bar
VIEWS = (
    (View.MINE, N_("Mine")),
    (View.UNASSIGNED, N_("Unassigned")),
    (View.ALL, N_("All")),
    (View.CLOSED, N_("Closed")),
)
STATES = {
    ConversationState.OPEN: N_("open"),
    ConversationState.WAITING: N_("waiting"),
    ConversationState.CLOSED: N_("closed"),
}


def views_bar(view: View, term: str) -> Text:
    """1 Mine 2 Unassigned 3 All 4 Closed, the one shown marked (none while searching)."""
    bar = Text()
    for n, (each, label) in enumerate(VIEWS, start=1):
        style = CURRENT if each is view and not term else Style()
        bar.append(f" {n} {_(label)} ", style=style)
        bar.append(" ")
    return bar


def inbox_labels() -> tuple[str, ...]:
    return (
        "",
        _("Who"),
        _("Subject"),
        _("When"),
        _("State"),
        _("Handled by"),
        _("Files"),
        _("E-mail"),
    )


def inbox_lines(rows: list[InboxRow], staff_id: str, nothing: str) -> list[Row]:
    """A table line per row (other people's text literal, as ``cell`` makes it); or one
    line that says ``nothing`` is here."""
    return [
        (
            row.conversation.id,
            (
                "●" if row.unread else " ",
                cell(row.who),
                cell(row.subject),
                when(row.when),
                _(STATES[row.conversation.state]),
                handler(row, staff_id),
                str(row.attachments),
                cell(row.email),
            ),
        )
        for row in rows
    ] or [(None, ("", nothing, "", "", "", "", "", ""))]


def handler(row: InboxRow, staff_id: str) -> str | Text:
    if row.conversation.assignee_id == staff_id:
        return _("you")
    return cell(row.handler) if row.handler else "—"


def nothing_here(term: str, view: View, page_start: int) -> str:
    if term:
        return _("Nothing found.")
    if view is View.ALL and not page_start:
        return _("No conversations yet.")
    return _("No conversations here.")
