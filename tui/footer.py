"""The key bar of every screen: Textual's Footer, changing only the keys that change.

Textual's Footer recomposes (unmounts every key, mounts new ones, applies the CSS to
each) on every ``refresh_bindings``: each time focus moves or a screen's keys are
enabled or disabled, which in veilig's dialogs is most key presses. Found in the
profile of the desk's inbox (docs/PERFORMANCE.md, "Desk at scale"), then in the
profile of the test suite, where footer recomposes and the styling of their new keys
were about a fifth of all the TUI's CPU time (docs/PERFORMANCE.md, "The quick loop").
What it shows is the same: tests/test_desk_fast.py compares it with Footer's keys.
"""

from __future__ import annotations

from typing import Any

from textual.dom import NoScreen
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # Footer's own key widget

# A key a footer shows: (action, key, description, tooltip).
Ident = tuple[str, str, str, str]


class QuietFooter(Footer):
    """A Footer that changes only the keys that change.

    Textual's Footer recomposes on every ``refresh_bindings``, even when the keys are
    the same (the desk asks for one whenever the cursor moves to another row: take,
    close or reopen, as the row allows). Here a key that became enabled or disabled
    changes just that, a key no longer shown goes and a new one is mounted in its
    place; grouped keys (none in veilig) fall back to Footer's own recompose."""

    _shown: list[Ident] | None = None

    def on_mount(self) -> None:
        # Footer shows no key until the screen's keys next change. This one is mounted
        # after the first frame (tui.widgets.footer_after_first_frame), and the last change
        # can come before it: `veilig open REFERENCE` whose look-up answered first left the
        # bar empty until a key was pressed. So: the keys as they are now. (Footer's own
        # on_mount, which subscribes to the changes, runs as well.)
        self.bindings_changed(self.screen)

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
