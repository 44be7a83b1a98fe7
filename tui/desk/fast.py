"""The desk tables' DataTable that paints less: one-line cells skip Rich's layout.

It exists for the inbox at 100,000 conversations (issue #16, docs/PERFORMANCE.md
"Desk at scale"): a profile of its first rows showed DataTable's ``_render_cell``
laying out every cell through ``console.render_lines(Styled(Padding(cell)))``
(~100 µs a cell, 8 cells × 36 visible rows). What it draws is the same:
tests/test_desk_fast.py compares it with DataTable's own rendering. (The footer that
changes its keys in place, found in the same profile, is tui/footer.py.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import Column


class FastTable(DataTable[str | Text]):
    """A DataTable drawing a one-line cell that fits its column straight into segments.

    DataTable renders each cell through ``Styled(Padding(cell, (0, padding)))`` and
    ``console.render_lines``, which measures, wraps, crops and pads it in four layers.
    A cell that is one line and already fits (the desk's tables cut theirs to the
    column's width: tui.desk.table.fill) needs none of that: the same segments are
    the padding, the text's own segments, the fill and the padding, with the same
    styles applied. Anything else (headers, wider or multi-line cells) goes to
    DataTable's own path. The result is cached exactly where DataTable caches its own.
    """

    # Styles that DataTable works out again for every line it draws (its own style
    # walks all its ancestors), kept for one pass of render_lines: nothing restyles the
    # table in the middle of drawing it.
    _pass: dict[str, Style] | None = None

    _columns: list[Column] | None = None  # ordered_columns, for one pass
    _backgrounds: tuple[Color, Color] | None = None  # background_colors, for one pass

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass = {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass = self._columns = self._backgrounds = None

    @property
    def background_colors(self) -> tuple[Color, Color]:
        # Worked out from every ancestor, once per row drawn by DataTable.
        if self._pass is None:
            return super().background_colors
        if self._backgrounds is None:
            self._backgrounds = super().background_colors
        return self._backgrounds

    @property
    def ordered_columns(self) -> list[Column]:
        # DataTable builds this list anew at every use, several times per row drawn.
        if self._pass is None:
            return super().ordered_columns
        if self._columns is None:
            self._columns = super().ordered_columns
        return self._columns

    def _style(self, name: str) -> Style:
        """The table's own style ("") or a component's, once per pass."""
        if self._pass is None:
            return self.rich_style if not name else self.get_component_styles(name).rich_style
        style = self._pass.get(name)
        if style is None:
            style = self.rich_style if not name else self.get_component_styles(name).rich_style
            self._pass[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        # DataTable.render_line, with the table's style worked out once per pass.
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        fixed_keys = (self._row_locations.get_key(index) for index in range(self.fixed_rows))
        fixed = sum(self.get_row_height(key) for key in fixed_keys if key is not None)
        if self.show_header:
            fixed += self.get_row_height(self._header_row_key)
        if y >= fixed:
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + width, self._style(""))

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        if row_index == -1:
            return self._style("datatable--header")
        if row_index < self.fixed_rows:
            return self._style("datatable--fixed")
        if self.zebra_stripes:
            return self._style("datatable--odd-row" if row_index % 2 else "datatable--even-row")
        return base_style

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        text = self._one_line(row_key, column_key, width)
        if text is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            row_index < self.fixed_rows or column_index < self.fixed_columns,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index})
        pad = " " * self.cell_padding
        inner = width - 2 * self.cell_padding
        console = self.app.console
        own = text.render(console, "")
        if text.style:  # Rich lays a Text out with its own style as its first span
            own = Segment.apply_style(own, console.get_style(text.style))
        segments = [Segment(pad, Style.null()), *own]
        if inner > text.cell_len:
            segments.append(Segment(" " * (inner - text.cell_len), Style.null()))
        segments.append(Segment(pad, Style.null()))
        lines = [list(Segment.apply_style(segments, pre_style + component_style, post_style))]
        self._cell_render_cache[cache_key] = lines
        return lines

    def _update_dimensions(self, new_rows: Iterable[Any]) -> None:
        """DataTable measures every cell of every new row (Rich's ``measure``) to size
        its auto-width columns and rows. The desk's columns have fixed widths and its
        rows one line (tui.desk.table.fill), so nothing measured would change: only the
        scrollable size is set, as DataTable sets it."""
        keys = list(new_rows)
        rows = [self.rows.get(key) for key in keys]
        if any(column.auto_width for column in self.columns.values()) or any(
            row is not None and (row.auto_height or row.label is not None) for row in rows
        ):
            super()._update_dimensions(keys)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            width + self._row_label_column_width, self._total_row_height + header_height
        )

    def _one_line(self, row_key: Any, column_key: Any, width: int) -> Text | None:
        """The cell as DataTable would format it, if it is one line that fits."""
        row = self.rows.get(row_key)
        if row is None or row.height != 1 or row.auto_height:
            return None
        value = self._data[row_key].get(column_key)
        if isinstance(value, str):
            # As DataTable's default_cell_formatter reads a string (its markup too).
            text = Text.from_markup(value, end="")
        elif isinstance(value, Text):
            text = value
        else:
            return None
        plain = text.plain
        if (
            "\n" in plain
            or "\t" in plain
            or text.justify not in (None, "default", "left")
            or text.cell_len > width - 2 * self.cell_padding
        ):
            return None
        return text
