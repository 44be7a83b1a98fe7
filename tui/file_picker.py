"""A modal file picker: a directory tree; Enter on a file chooses it, Escape cancels."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Footer, Static

from core.i18n import _


class FilePicker(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", _("Cancel"), id="cancel")]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static(_("Choose a file to attach (Enter: choose, Escape: cancel)"), markup=False)
            yield DirectoryTree(self.root, id="tree")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#tree", DirectoryTree).focus()

    @on(DirectoryTree.FileSelected)
    def chosen(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(event.path)

    def action_cancel(self) -> None:
        self.dismiss(None)
