"""tests/tui_helpers.settle: a screen is read only once what was set going is done."""

from __future__ import annotations

from textual import work
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tests.tui_helpers import screen_text, settle

LINKS = 60


class Link(Static):
    """Mounts the next link when it is mounted itself: each link a turn later."""

    def __init__(self, n: int) -> None:
        super().__init__(f"link {n}")
        self.n = n

    def on_mount(self) -> None:
        if self.n < LINKS:
            self.app.query_one("#links", Vertical).mount(Link(self.n + 1))


class Chain(App[None]):
    """A worker's result, posted from its thread, starts a chain of mounts: as a
    looked-up reference mounts bubbles, and the key bar its keys."""

    class Found(Message):
        pass

    def compose(self) -> ComposeResult:
        yield Vertical(id="links")

    @work(thread=True)
    def look_up(self) -> None:
        self.post_message(self.Found())

    def on_chain_found(self) -> None:
        self.query_one("#links", Vertical).mount(Link(1))


async def test_settle_waits_for_all_that_a_workers_result_set_going() -> None:
    app = Chain()
    async with app.run_test(size=(30, LINKS + 4)) as pilot:
        await app.look_up().wait()
        await settle(pilot)
        assert f"link {LINKS}" in screen_text(app)
        assert len(app.query(Link)) == LINKS
