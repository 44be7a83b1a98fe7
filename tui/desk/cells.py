"""Table cells of the inbox and *Sent*: other people's text made literal and short."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from core.display import literal
from core.i18n import format_datetime

CELL_WIDTH = 40  # a stranger's 500-character name must not push the other columns away


def cell(text: str) -> Text:
    """A table cell from other people's text: literal, never markup, and at most
    CELL_WIDTH wide (the whole text is in the conversation itself)."""
    shown = literal(text)
    if len(shown) > CELL_WIDTH:
        shown = shown[: CELL_WIDTH - 1] + "…"
    return Text(shown)


def when(moment: datetime | None) -> str:
    return format_datetime(moment) if moment else "—"


def short(moment: datetime | None) -> str:
    """Day, month and time: enough for the Sent overview, and it fits 80 columns."""
    return moment.astimezone().strftime("%d-%m %H:%M") if moment else "—"


Row = tuple[str | None, Sequence[str | Text]]  # (row key, cells)


def fill(table: DataTable[str | Text], labels: Sequence[str], rows: Sequence[Row]) -> None:
    """Replace the table's columns and rows, each column as wide as its widest cell.

    Measured here: DataTable's own auto width is measured later, when idle, and a
    redraw in between could leave the table drawn at the width of its labels
    ("Kar", "karin@")."""
    table.clear(columns=True)
    for n, label in enumerate(labels):
        width = max((cell_len(str(cells[n])) for _key, cells in rows), default=0)
        table.add_column(label, width=max(width, cell_len(label)))
    for key, cells in rows:
        table.add_row(*cells, key=key)
