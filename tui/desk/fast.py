"""The desk tables' two widgets that paint less: a DataTable whose one-line cells skip
Rich's layout, and a footer that changes its keys in place.

Both exist for the inbox at 100,000 conversations (issue #16, docs/PERFORMANCE.md
"Desk at scale"): a profile of its first rows showed DataTable's ``_render_cell``
laying out every cell through ``console.render_lines(Styled(Padding(cell)))``
(~100 µs a cell, 8 cells × 36 visible rows), and the footer mounting all its keys
again (CSS applied to each) every time the row under the cursor allowed other keys.
What they draw is the same: tests/test_desk_fast.py compares them with DataTable's
own rendering and Footer's own keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.dom import NoScreen
from textual.geometry import Region, Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import DataTable, Footer
from textual.widgets._footer import FooterKey  # Footer's own key widget
from textual.widgets.data_table import Column

# A key a footer shows: (action, key, description, tooltip).
Ident = tuple[str, str, str, str]


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


class QuietFooter(Footer):
    """A Footer that changes only the keys that change.

    Textual's Footer recomposes (unmounts every key, mounts new ones, applies the CSS
    to each) on every ``refresh_bindings``, even when the keys are the same; the desk
    asks for one whenever the cursor moves to another row (take, close or reopen, as
    the row allows), and when the first rows come. Here a key that became enabled or
    disabled changes just that, a key no longer shown goes and a new one is mounted
    in its place; grouped keys (none in veilig) fall back to Footer's own recompose."""

    _shown: list[Ident] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._update_keys)

    def _wanted(self) -> tuple[list[Ident], dict[Ident, bool], bool]:
        """The keys to show, in Footer's order (the first binding of each action),
        whether each is enabled, and whether any is grouped."""
        shown: list[Ident] = []
        enabled: dict[Ident, bool] = {}
        actions: set[str] = set()
        grouped = False
        for _node, binding, on, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in actions:
                ident = (binding.action, binding.key, binding.description, tooltip)
                actions.add(binding.action)
                shown.append(ident)
                enabled[ident] = on
                grouped = grouped or binding.group is not None
        return shown, enabled, grouped

    async def _update_keys(self) -> None:
        if not self.is_attached or self._pruning:
            return  # the screen went (locked, quit) before the refresh came
        try:
            shown, enabled, grouped = self._wanted()
        except NoScreen:
            return
        keys = list(self.query_children(FooterKey))
        old = self._shown
        kept = [ident for ident in old or [] if ident in set(shown)]
        if (
            grouped
            or old is None
            or len(keys) != len(self.children)
            or len(keys) != len(old)
            or kept != [ident for ident in shown if ident in set(old)]  # reordered
        ):
            self._shown = None if grouped else shown
            await self.recompose()
            return
        wanted = set(shown)
        for ident, key in zip(old, keys, strict=True):
            if ident not in wanted:
                await key.remove()
        have = {ident: key for ident, key in zip(old, keys, strict=True) if ident in wanted}
        for position, ident in enumerate(shown):
            existing = have.get(ident)
            if existing is None:
                action, binding_key, description, tooltip = ident
                key = FooterKey(
                    binding_key,
                    self.app.get_key_display(self.screen.active_bindings[binding_key][1]),
                    description,
                    action,
                    disabled=not enabled[ident],
                    tooltip=tooltip,
                )
                key.compact = self.compact
                if position < len(self.children):
                    await self.mount(key, before=position)
                else:
                    await self.mount(key)
            elif existing._disabled == enabled[ident]:  # as FooterKey's constructor sets it
                existing._disabled = not enabled[ident]
                existing.set_class(existing._disabled, "-disabled")
        self.styles.grid_size_columns = len(shown)
        self._shown = shown
