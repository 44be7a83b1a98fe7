"""The desk tables' faster widgets (tui/desk/fast.py) draw what Textual's own draw.

FastTable against DataTable: the same rows in two tables side by side in a real app,
painted, compared character by character with their styles (colour, zebra stripe,
cursor, and the row/column meta that mouse clicks read), also for cells it hands back
to DataTable (markup, too wide, two lines). QuietFooter against Footer: after keys
are dimmed, lit, hidden and shown again, it shows the keys Footer would compose, and
it mounted them all only once.
"""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable, Footer
from textual.widgets._footer import FooterKey

from tests.tui_helpers import settle
from tui.desk.fast import FastTable
from tui.desk.table import fill
from tui.footer import QuietFooter

ROWS = [
    ("●", Text("Jansen, Pieter"), "Verwijzing fysiotherapie", "30-11 12:00", "3"),
    (" ", Text("Ömer Yılmaz", style="bold"), Text("Uitslag 漢字 bloed"), "[b]open[/b]", "0"),
    (" ", Text("a name far wider than its column"), "two\nlines", "—", "12"),
    ("●", Text(""), "", "", ""),
] * 6
WIDTHS = [1, 14, 24, 11, 5]


class Table(App[None]):
    """One table, focused (its cursor and header are styled as on the desk)."""

    def __init__(self, kind: type[DataTable[str | Text]]) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        table = self.kind(id="table", cursor_type="row", zebra_stripes=True)
        for n, width in enumerate(WIDTHS):
            table.add_column(f"c{n}", width=width)
        for i, row in enumerate(ROWS):
            table.add_row(*row, key=str(i))
        yield table


def chars(strip: Strip) -> list[tuple[str, object]]:
    """Each character of a painted line with its style: the same whatever the split."""
    return [(char, segment.style) for segment in strip for char in segment.text]


async def painted(kind: type[DataTable[str | Text]], cursor: int) -> list[object]:
    """What the table paints: with the cursor on ``cursor``, then two rows further
    (cells cached before, new ones now), and its scrollable size."""
    app = Table(kind)
    result: list[object] = []
    async with app.run_test(size=(80, 60)) as pilot:
        table = app.query_one("#table", DataTable)
        assert isinstance(table, kind) and app.focused is table
        for at in (cursor, cursor + 2):
            table.move_cursor(row=at)
            await pilot.pause()
            result.append([chars(s) for s in table.render_lines(Region(0, 0, 70, 16))])
        result.append(table.virtual_size)
    return result


def page_down(table: DataTable[str | Text]) -> None:
    table.action_page_down()


def hover(table: DataTable[str | Text]) -> None:
    # What a mouse over a row on screen does (DataTable._on_mouse_move reads the row
    # from the cell's meta); the hover is drawn only once the mouse moved.
    table._set_hover_cursor(True)
    table.hover_coordinate = Coordinate(int(table.scroll_offset.y) + 3, 2)


def edit(table: DataTable[str | Text]) -> None:
    # A row on screen and under the cursor changes: its kept lines must not be shown.
    table.update_cell_at(Coordinate(table.cursor_row, 1), Text("Karin de Vries"))
    table.update_cell_at(Coordinate(table.cursor_row + 1, 2), "nieuw [i]onderwerp[/i]")


def page_up(table: DataTable[str | Text]) -> None:
    table.action_page_up()


def unfocus(table: DataTable[str | Text]) -> None:
    table.app.set_focus(None)  # another look (focus), the same rows


MOVES = [page_down, edit, hover, page_up, unfocus]


async def painted_through(kind: type[DataTable[str | Text]]) -> list[object]:
    """What the table paints after each of ``MOVES``, over the whole table."""
    app = Table(kind)
    result: list[object] = []
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one("#table", DataTable)
        await pilot.pause()
        for move in MOVES:
            move(table)
            await pilot.pause()
            lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
            result.append((move.__name__, table.cursor_row, table.scroll_offset.y))
            result.append([chars(s) for s in lines])
    return result


async def test_fast_table_paints_what_data_table_paints_as_the_cursor_moves() -> None:
    """Paging, the mouse, a changed cell and focus: FastTable keeps a row's line until
    that row looks different, and then draws what DataTable draws."""
    own = await painted_through(DataTable)
    fast = await painted_through(FastTable)
    assert fast == own
    assert own[0][1] > 0 and own[6][1] < own[0][1]  # it did page down and back up
    assert own[5] != own[3]  # the mouse showed, on a row that was kept
    text = "".join(char for line in fast[3] for char, _style in line)  # type: ignore[attr-defined]
    assert "Karin de Vries" in text and "onderwerp" in text  # the edit is on screen


@pytest.mark.parametrize("cursor", [0, 1, 5])
async def test_fast_table_paints_what_data_table_paints(cursor: int) -> None:
    own = await painted(DataTable, cursor)
    fast = await painted(FastTable, cursor)
    assert fast == own
    text = "".join(char for line in fast[0] for char, _style in line)  # type: ignore[attr-defined]
    assert "Jansen, Pieter" in text and "Ömer Yılmaz" in text and "漢字" in text


class Keys(App[None]):
    ENABLE_COMMAND_PALETTE = False  # as veilig's app (its key would be one more)
    BINDINGS = [
        Binding("t", "take", "Take"),
        Binding("c", "close", "Close"),
        Binding("o", "reopen", "Reopen"),
        Binding("n", "new", "New"),
    ]

    def __init__(self, footer: type[Footer]) -> None:
        super().__init__()
        self.footer = footer
        self.allowed: dict[str, bool | None] = {"take": True, "close": True, "reopen": None}

    def compose(self) -> ComposeResult:
        yield self.footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.allowed.get(action, True)

    def action_take(self) -> None: ...
    def action_close(self) -> None: ...
    def action_reopen(self) -> None: ...
    def action_new(self) -> None: ...


def keys_of(app: App[None]) -> list[tuple[str, str, bool]]:
    return [
        (key.key, key.description, key.has_class("-disabled"))
        for key in app.query_one(Footer).query_children(FooterKey)
    ]


async def test_quiet_footer_shows_the_keys_footer_shows() -> None:
    steps: list[dict[str, bool | None]] = [
        {"take": None, "close": True, "reopen": None},  # dimmed
        {"take": True, "close": None, "reopen": True},  # lit
        {"take": True, "close": False, "reopen": True},  # hidden
        {"take": False, "close": True, "reopen": None},  # one back, one other gone
        {"take": True, "close": True, "reopen": True},
    ]
    seen: dict[type[Footer], list[list[tuple[str, str, bool]]]] = {}
    recomposed = 0
    for footer in (Footer, QuietFooter):
        app = Keys(footer)
        async with app.run_test() as pilot:
            await pilot.pause()
            if footer is QuietFooter:
                original = QuietFooter.recompose

                async def counted(self: QuietFooter) -> None:
                    nonlocal recomposed
                    recomposed += 1
                    await original(self)

                app.query_one(QuietFooter).recompose = counted.__get__(app.query_one(QuietFooter))  # type: ignore[method-assign]
            seen[footer] = [keys_of(app)]
            for allowed in steps:
                app.allowed = allowed
                app.refresh_bindings()
                await pilot.pause()
                await pilot.pause()
                seen[footer].append(keys_of(app))
    assert seen[QuietFooter] == seen[Footer]
    assert ("c", "Close", True) in seen[Footer][2]  # the steps did dim, hide and show
    assert all(key != "c" for key, _d, _x in seen[Footer][3])
    # Dimming, lighting, hiding and showing again changed the keys in place: the
    # footer was never mounted anew.
    assert recomposed == 0


class KeysLater(Keys):
    """Keys whose key bar comes later, as veilig's does (after the first frame)."""

    def compose(self) -> ComposeResult:
        yield from ()


async def test_quiet_footer_mounted_after_the_last_change_of_keys_shows_them() -> None:
    """`veilig open REFERENCE`: the look-up can answer, and change the keys for the last
    time in a while, before the key bar is mounted. Footer would stay empty until the
    next change; QuietFooter shows the keys as they are."""
    app = KeysLater(QuietFooter)
    async with app.run_test() as pilot:
        app.refresh_bindings()
        await settle(pilot)
        await app.mount(QuietFooter())
        await settle(pilot)
        assert keys_of(app) == [
            ("t", "Take", False),
            ("c", "Close", False),
            ("o", "Reopen", True),
            ("n", "New", False),
        ]


async def test_fill_sizes_the_table_for_its_rows_at_once() -> None:
    """tui.desk.table.fill: the rows and the scrollbar they need in one frame (DataTable
    sets its scrollable size when idle, after a first paint without the scrollbar)."""
    app = Table(FastTable)
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one("#table", DataTable)
        await pilot.pause()
        rows = [
            (f"k{n}", ("●", Text(f"naam {n}"), "onderwerp", "30-11", str(n))) for n in range(40)
        ]
        fill(table, [f"c{n}" for n in range(5)], rows)
        assert table.virtual_size.height == 40 + table.header_height  # before any idle
        await pilot.pause()
        assert table.virtual_size.height == 40 + table.header_height
        assert table.show_vertical_scrollbar
        # The strings it read for painting go with the rows (no cache outlives them).
        assert "onderwerp" in table._texts
        fill(table, [f"c{n}" for n in range(5)], [("k", ("", Text("x"), "", "", ""))])
        await pilot.pause()
        assert "onderwerp" not in table._texts
