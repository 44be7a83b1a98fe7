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
from textual._segment_tools import line_crop
from textual.color import Color
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import Column, RowKey

# Marks FastTable's own line keys in DataTable's line cache.
_FAST = object()


class FastTable(DataTable[str | Text]):
    """A DataTable drawing a one-line cell that fits its column straight into segments.

    DataTable renders each cell through ``Styled(Padding(cell, (0, padding)))`` and
    ``console.render_lines``, which measures, wraps, crops and pads it in four layers.
    A cell that is one line and already fits (the desk's tables cut theirs to the
    column's width: tui.desk.table.fill) needs none of that: the same segments are
    the padding, the text's own segments, the fill and the padding, with the same
    styles applied. Anything else (headers, wider or multi-line cells) goes to
    DataTable's own path. The result is cached exactly where DataTable caches its own.

    A row's line is kept until that row looks different (``_render_line``): DataTable
    keys its lines on the cursor's coordinate, so every cursor move (a page down) laid
    out every row on screen again. And ``size_now`` sizes the table for new rows at once
    instead of when idle (tui.desk.table.fill), so rows and scrollbar come in one frame.
    """

    # Styles that DataTable works out again for every line it draws (its own style
    # walks all its ancestors), kept for one pass of render_lines: nothing restyles the
    # table in the middle of drawing it.
    _pass: dict[str, Style] | None = None

    _columns: list[Column] | None = None  # ordered_columns, for one pass
    _backgrounds: tuple[Color, Color] | None = None  # background_colors, for one pass

    @property
    def _texts(self) -> dict[str, Text]:
        """String cells read as Text (see ``_fits``), emptied with DataTable's caches
        (rows replaced by ``clear``, a new style): no module-wide cache of what tables
        showed, and this one goes with the table."""
        texts: dict[str, Text] | None = self.__dict__.get("_read_texts")
        if texts is None:
            texts = self.__dict__["_read_texts"] = {}
        return texts

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._texts.clear()

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

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """DataTable._render_line for a table with a row cursor, no row labels and no
        fixed columns (the desk's): the same strip, kept per row and per whether the
        cursor and the mouse are on that row.

        DataTable keeps each line, and each row's cells, under the cursor's and the
        mouse's coordinates: when the cursor moves (a page down moves it a page), every
        row on screen is laid out again although only two rows look different. Here a
        row's line is found again unless its own look changed: cursor or mouse onto or
        off it, the table's data, size, focus or styles (DataTable's own keys, in the
        same caches, which it clears where it clears its own)."""
        if self.cursor_type != "row" or self.fixed_columns or self._labels_shown:
            return super()._render_line(y, x1, x2, base_style)
        width = self.size.width
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return Strip.blank(width, base_style)
        row_index = self._row_locations.get(row_key) if row_key in self._row_locations else -1
        cursor = self.cursor_coordinate.row == row_index
        hover = self.hover_coordinate.row == row_index
        cache_key = (
            _FAST,
            y,
            row_key,
            line_no,
            row_index,
            x1,
            x2,
            width,
            cursor,
            hover,
            base_style,
            self.show_cursor,
            self._show_hover_cursor,
            self.zebra_stripes,
            self.fixed_rows,
            self._update_count,
            self._pseudo_class_state,
        )
        strip = self._line_cache.get(cache_key)
        if strip is None:
            segments = self._row_segments(
                row_key, row_index, line_no, base_style, cursor, hover, width
            )
            strip = Strip(line_crop(segments, x1, x2, width))
            strip = strip.adjust_cell_length(width, base_style).simplify()
            self._line_cache[cache_key] = strip
        return strip

    @property
    def _labels_shown(self) -> bool:
        return self._labelled_row_exists and self.show_row_labels

    def _row_segments(
        self,
        row_key: RowKey,
        row_index: int,
        line_no: int,
        base_style: Style,
        cursor: bool,
        hover: bool,
        width: int,
    ) -> list[Segment]:
        """One line of a row's cells and the space after them, as
        DataTable._render_line_in_row lays it out for a row cursor; what a row's cells
        share (their styles, padding, widths) worked out once for the row."""
        row_style = self._get_row_style(row_index, base_style)
        show_cursor, show_hover = self.show_cursor, self._show_hover_cursor
        padding = self.cell_padding
        segments: list[Segment] = []
        table_width = self._row_label_column_width
        row = self.rows.get(row_key) if row_index >= 0 else None
        simple = row is not None and row.height == 1 and not row.auto_height
        data = self._data.get(row_key, {}) if simple else {}
        styles = self._cell_styles(row_index, cursor, hover) if simple else None
        cache, texts = self._cell_render_cache, self._texts
        state = (show_hover, self._update_count, self._pseudo_class_state)
        for column_index, column in enumerate(self.ordered_columns):
            column_width = column.get_render_width(self)
            table_width += column_width
            lines = None
            if styles is not None:
                # DataTable's own key for the cell, in its own cache.
                cache_key = (row_key, column.key, row_style, cursor, hover, *state)
                lines = cache.get(cache_key)
                if lines is None:
                    text = _fits(data.get(column.key), column_width - 2 * padding, texts)
                    if text is not None:
                        meta = {"row": row_index, "column": column_index}
                        lines = self._cell_lines(
                            text, row_style, meta, padding, column_width, styles
                        )
                        cache[cache_key] = lines
            if lines is None:  # the header, or a cell only DataTable lays out
                lines = super()._render_cell(
                    row_index, column_index, row_style, column_width, cursor, hover
                )
            segments.extend(lines[line_no])
        # Extending the row's style out to the table's width, as DataTable does.
        extend_style, _post = self._get_styles_to_render_cell(
            row_index == -1, False, False, hover, cursor, show_cursor, show_hover, False, False
        )
        extend_style = row_style + extend_style
        extend_style += Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * max(0, width - table_width), extend_style))
        return segments

    def _cell_styles(self, row_index: int, cursor: bool, hover: bool) -> tuple[Style, Style]:
        """The component and post style of a data cell in this row (not a fixed column:
        the desk has none)."""
        return self._get_styles_to_render_cell(
            False,
            False,
            row_index < self.fixed_rows,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        # DataTable's own path for a cell, where DataTable asks for one (a table this
        # class does not draw itself: row labels, fixed columns, another cursor).
        if row_index < 0 or column_index < self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row is None or column_key is None or row.height != 1 or row.auto_height:
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
        text = _fits(
            self._data[row_key].get(column_key), width - 2 * self.cell_padding, self._texts
        )
        if text is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        meta = {"row": row_index, "column": column_index}
        styles = self._cell_styles(row_index, cursor, hover)
        lines = self._cell_lines(text, base_style, meta, self.cell_padding, width, styles)
        self._cell_render_cache[cache_key] = lines
        return lines

    def _cell_lines(
        self,
        text: Text,
        base_style: Style,
        meta: dict[str, int],
        padding: int,
        width: int,
        styles: tuple[Style, Style],
    ) -> list[list[Segment]]:
        """What DataTable's ``Styled(Padding(text), pre_style, post_style)`` lays out
        for a one-line cell that fits: the padding, the text's own segments, the fill
        and the padding, each with the cell's style, its own on top, the post style."""
        component_style, post_style = styles
        style = base_style + Style.from_meta(meta) + component_style
        console = self.app.console
        own: Iterable[Segment] = text.render(console, "")
        if text.style:  # Rich lays a Text out with its own style as its first span
            own = Segment.apply_style(own, console.get_style(text.style))
        pad = " " * padding
        fill = width - 2 * padding - text.cell_len
        if style.link:  # a linked style is copied at every addition: Rich's own way
            segments = [Segment(pad), *own]
            if fill > 0:
                segments.append(Segment(" " * fill))
            segments.append(Segment(pad))
            return [list(Segment.apply_style(segments, style, post_style))]
        # Segment.apply_style, unrolled: a segment without a style of its own takes the
        # cell's style as it is (Style.__add__ returns it unchanged).
        plain = style + post_style if post_style else style
        line = [Segment(pad, plain)]
        for segment in own:
            own_style = segment.style
            if own_style:
                combined = style + own_style
                line.append(
                    Segment(segment.text, combined + post_style if post_style else combined)
                )
            else:
                line.append(Segment(segment.text, plain))
        if fill > 0:
            line.append(Segment(" " * fill, plain))
        line.append(Segment(pad, plain))
        return [line]

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

    def size_now(self) -> None:
        """Set the scrollable size for the rows just added, now rather than when idle.

        DataTable does it on idle: after the first paint with the new rows, so the
        scrollbar they need comes a frame later and the screen is laid out and drawn
        once more (the inbox's first rows: two full paints of the table instead of one).
        """
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)


def _fits(value: object, inner: int, texts: dict[str, Text]) -> Text | None:
    """The cell as DataTable would format it, if it is one line that fits ``inner``
    (the column's width without its padding). ``texts``: the table's strings read as
    DataTable's default_cell_formatter reads them (their markup too), kept while the
    table keeps its rows; the same ones come back in every row ("open", "you", "—")."""
    if isinstance(value, str):
        text = texts.get(value)
        if text is None:
            text = texts[value] = Text.from_markup(value, end="")
    elif isinstance(value, Text):
        text = value
    else:
        return None
    plain = text.plain
    if (
        "\n" in plain
        or "\t" in plain
        or text.justify not in (None, "default", "left")
        or text.cell_len > inner
    ):
        return None
    return text
