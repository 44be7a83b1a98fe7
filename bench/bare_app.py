"""The start-up baseline: a bare Textual app that asks one question, nothing else."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input, Static


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("What is your name?")
        yield Input(placeholder="Your name")


if __name__ == "__main__":
    Bare().run()
