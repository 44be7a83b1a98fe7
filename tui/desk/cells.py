"""Table cells of the inbox and *Sent*: other people's text made literal and short."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

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
