"""The desk's two tables, the inbox and *Sent*: their screen base and their cells.

A table screen loads its rows in a worker and shows them with ``show_table``; when
the worker fails, the rows shown stay and a line above them says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from core.display import literal
from core.i18n import format_datetime
from tui.base import BaseScreen
from tui.desk.fast import FastTable
from tui.footer import QuietFooter
from tui.widgets import Notice

SCROLLBAR = 2  # the table's vertical scrollbar, when its rows overflow
CELL_WIDTH = 40  # a stranger's 500-character name must not push the other columns away
MIN_CUT = 8  # a column of other people's text is cut no narrower than this


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
    """Day, month and time, as the language writes dates elsewhere (format_datetime)
    without the year: enough for the Sent overview, and it fits 80 columns."""
    return format_datetime(moment, year=False) if moment else "—"


Row = tuple[str | None, Sequence[str | Text]]  # (row key, cells)


def fill(
    table: DataTable[str | Text],
    labels: Sequence[str],
    rows: Sequence[Row],
    room: int | None = None,
) -> None:
    """Replace the table's columns and rows, each column as wide as its widest cell.

    Measured here: DataTable's own auto width is measured later, when idle, and a
    redraw in between could leave the table drawn at the width of its labels
    ("Kar", "karin@"). With ``room`` (the screen's width) the table is never wider
    than that: the widest columns of other people's text (names, addresses, subjects:
    the ``Text`` cells) give way one character at a time, and their cells are cut with
    "…". The terminal's edge used to cut them silently."""
    widths = [
        max(max((cell_len(str(cells[n])) for _key, cells in rows), default=0), cell_len(label))
        for n, label in enumerate(labels)
    ]
    if room is not None:
        flexible = [n for n in range(len(labels)) if any(isinstance(c[n], Text) for _k, c in rows)]
        narrowest = [max(cell_len(label), MIN_CUT) for label in labels]
        excess = sum(width + 2 for width in widths) + 2 - room  # a space each side of a cell
        while excess > 0:
            can = [n for n in flexible if widths[n] > narrowest[n]]
            if not can:
                break
            widths[max(can, key=lambda n: widths[n])] -= 1
            excess -= 1
    table.clear(columns=True)
    for label, width in zip(labels, widths, strict=True):
        table.add_column(label, width=width)
    for key, cells in rows:
        table.add_row(*(_cut(c, w) for c, w in zip(cells, widths, strict=True)), key=key)
    if isinstance(table, FastTable):
        table.size_now()  # rows and scrollbar in one frame


def _cut(content: str | Text, width: int) -> str | Text:
    if not isinstance(content, Text) or content.cell_len <= width:
        return content
    cut = content.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


class TableScreen(BaseScreen):
    """A title, a notice line (hidden while all is well), a table of rows, the keys."""

    TABLE_ID = "table"

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title
        self.shown: tuple[Sequence[str], Sequence[Row]] | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="title", markup=False)
        yield Notice(id="error")
        yield FastTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)
        yield QuietFooter()

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one(f"#{self.TABLE_ID}", DataTable)

    def load(self) -> object:
        """Start the worker that loads the rows."""
        raise NotImplementedError

    def action_refresh(self) -> None:
        self.load()

    def show_table(self, labels: Sequence[str], rows: Sequence[Row], *, focus: bool = True) -> None:
        """Show ``rows``; the cursor stays on the row it was on, if that is still there
        (the inbox shows colleagues' changes while someone reads it)."""
        keys = [key for key, _cells in rows]
        at = self.table.cursor_row
        try:
            was = self.table.coordinate_to_cell_key((at, 0)).row_key.value
        except CellDoesNotExist:
            was = None
        self.shown = (labels, rows)
        fill(self.table, labels, rows, room=self.size.width - SCROLLBAR)
        if was in keys:
            self.table.move_cursor(row=keys.index(was))
        elif rows:
            self.table.move_cursor(row=min(at, len(rows) - 1))
        self.query_one("#error", Notice).say("")
        if focus:
            self.table.focus()

    def on_resize(self) -> None:
        if self.shown is not None:
            cursor = self.table.cursor_row
            fill(self.table, *self.shown, room=self.size.width - SCROLLBAR)
            self.table.move_cursor(row=cursor)

    def show_failure(self, text: str) -> None:
        self.query_one("#error", Notice).say(text)  # above the rows, which stay
