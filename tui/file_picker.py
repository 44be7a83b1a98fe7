"""A modal file picker: Enter on a file chooses it, Backspace goes up a folder,
Escape cancels. Names are shown literally (a file name can hold terminal escapes)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Static

from core.display import literal
from core.i18n import _
from tui.footer import QuietFooter
from tui.widgets import Notice


class SafeDirectoryTree(DirectoryTree):
    """A directory tree that hides dot files and never lets a name reach the terminal raw."""

    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "
    ICON_FILE = "  "

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".")]

    def process_label(self, label: str | Text) -> Text:
        # Tree parses str labels as markup: a file called "[bold]x" would be styled,
        # and control characters would reach the terminal. Names are plain text here.
        if isinstance(label, str):
            return Text(literal(label))
        return super().process_label(label)


class FilePicker(ModalScreen[Path | None]):
    BINDINGS = [
        Binding("escape", "cancel", _("Cancel"), id="cancel"),
        Binding("backspace", "up", _("Folder up"), id="up"),
    ]

    def __init__(self, root: Path, *, confined: bool = False) -> None:
        super().__init__()
        self.root = root
        self.confined = confined  # over SSH: never above the session's upload folder

    def shown(self, folder: Path) -> str:
        """A folder as the person knows it: confined (over SSH, in a browser), from the
        upload folder on (``upload/scans``), never where the host keeps it."""
        if self.confined:
            base = self.root.resolve().parent
            resolved = folder.resolve()
            return str(resolved.relative_to(base)) if resolved.is_relative_to(base) else ""
        return str(folder)

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static(
                _("Choose a file (Enter: choose, Backspace: folder up, Escape: cancel)"),
                markup=False,
            )
            yield Static(literal(self.shown(self.root)), id="where", markup=False)
            yield Notice(id="error")
            yield SafeDirectoryTree(self.root, id="tree")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.query_one("#tree", DirectoryTree).focus()
        self.check_readable(self.root)

    def check_readable(self, folder: Path) -> None:
        """The tree's loader shows a folder it cannot read as empty, without a word:
        say so instead."""
        try:
            with os.scandir(folder):
                text = ""
        except OSError:
            text = _("{path} cannot be read.").format(path=self.shown(folder))
        self.query_one("#error", Notice).say(text)

    @on(DirectoryTree.DirectorySelected)
    def _opened(self, event: DirectoryTree.DirectorySelected) -> None:
        self.check_readable(event.path)

    def action_up(self) -> None:
        tree = self.query_one("#tree", DirectoryTree)
        parent = Path(tree.path).resolve().parent
        if self.confined and not parent.is_relative_to(self.root.resolve()):
            return
        tree.path = parent
        self.query_one("#where", Static).update(literal(self.shown(parent)))
        self.check_readable(parent)

    @on(DirectoryTree.FileSelected)
    def chosen(self, event: DirectoryTree.FileSelected) -> None:
        if event.path == Path(self.query_one("#tree", DirectoryTree).path):
            return  # the folder itself, gone (the tree takes it for a file): said above
        self.dismiss(event.path)

    def action_cancel(self) -> None:
        self.dismiss(None)
