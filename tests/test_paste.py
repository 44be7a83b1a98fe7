"""Pasting as terminals paste (issue #20, items 1 and 2): line ends as CR, an escape
inside, all in a bracketed paste. What was pasted arrives whole, in order, with its
line breaks, and every control made visible, never interpreted.

The parser tests feed the bytes a terminal sends through the parser the app's driver
really uses; tests/test_paste_terminal.py does the same through a real pty."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from textual import events
from textual.widgets import Input, TextArea

from core.clock import FrozenClock
from core.contact import Contact
from core.models import Method
from core.policy import Policy
from core.sealing import Draft
from tests.conftest import SmtpServer, make_settings, staff_desk
from tests.test_flows23_tui import log_in
from tests.test_starter_screen import to_body
from tests.tui_helpers import paste, screen_text, wait_for_workers
from tui.factory import make_context, make_desk_app, make_starter_app

HOSTILE_PASTE = "AAA\x1b]52;c;X\x07BBB"
SHOWN = "AAA\u241b]52;c;X\u2407BBB"  # ␛ and ␇: visible, in place
CR_LINES = "line one\rline two\rline three"


def events_of(parser, *chunks: str) -> list[events.Event]:
    return [event for chunk in chunks for event in parser.feed(chunk)]


def drivers_parser(home: Path, policy: Policy, monkeypatch: pytest.MonkeyPatch, driver: str | None):
    """The parser that the driver's input thread makes, once a real app (made as the CLI
    makes it, in a terminal or in a browser session) has chosen its driver."""
    import sys

    if driver:
        monkeypatch.setenv("TEXTUAL_DRIVER", driver)
    settings = make_settings(home)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    module = sys.modules[app.driver_class.run_input_thread.__module__]
    return module.XTermParser(False)


@pytest.mark.parametrize("driver", [None, "tui.web.driver:VeiligWebDriver"])
def test_a_bracketed_paste_with_an_escape_stays_one_paste_in_order(
    home: Path, policy: Policy, monkeypatch: pytest.MonkeyPatch, driver: str | None
) -> None:
    parser = drivers_parser(home, policy, monkeypatch, driver)
    got = events_of(parser, "\x1b[200~" + HOSTILE_PASTE + "\x1b[201~")
    assert [type(e) for e in got] == [events.Paste]
    assert got[0].text == "AAA\u241b]52;c;X\x07BBB"


def test_a_paste_split_across_reads_stays_whole_and_keys_outside_stay_keys(
    home: Path, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = drivers_parser(home, policy, monkeypatch, None)
    wire = "\x1b[A" + "\x1b[200~" + HOSTILE_PASTE + "\x1b[201~" + "\x1b[B"
    for size in (1, 2, 3, 5, 7):
        got = events_of(parser, *[wire[i : i + size] for i in range(0, len(wire), size)])
        assert [e.key if isinstance(e, events.Key) else e.text for e in got] == [
            "up",
            "AAA\u241b]52;c;X\x07BBB",
            "down",
        ], size


async def test_a_pasted_name_keeps_its_order_and_shows_its_controls(
    home: Path, policy: Policy
) -> None:
    settings = make_settings(home)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await paste(pilot, HOSTILE_PASTE + "\r")  # a copied line brings its line end
        assert app.screen.query_one("#line", Input).value == SHOWN
        app.screen.query_one("#line", Input).value = ""
        await paste(pilot, "Karin\r\nJanssen\n")  # a name copied across two lines
        assert app.screen.query_one("#line", Input).value == "Karin Janssen"


async def test_a_body_pasted_with_cr_line_ends_has_its_lines_in_the_starter(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await to_body(pilot, smtp_server)
        await paste(pilot, CR_LINES + "\r" + HOSTILE_PASTE)
        body = app.screen.query_one("#body", TextArea)
        assert body.text == "line one\nline two\nline three\n" + SHOWN
        await pilot.press("ctrl+s")  # the body echoed as the guest's bubble: three lines
        shown = screen_text(app)
        lines = [line for line in shown.splitlines() if line.startswith("line ")]
        assert len(lines) == 3 and "␍" not in shown, lines


async def test_a_body_pasted_with_cr_line_ends_has_its_lines_at_the_desk(
    home: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    clock = FrozenClock()
    settings = make_settings(home)
    ctx = make_context(settings, policy=policy, clock=clock)
    app = make_desk_app(settings, ctx=ctx)
    async with app.run_test(size=(120, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+n")
        body = app.screen.query_one("#compose-body", TextArea)
        body.focus()
        await pilot.pause()
        await paste(pilot, "Beste collega,\r\rzie bijlage.\r")
        assert body.text == "Beste collega,\n\nzie bijlage.\n"


async def test_a_reply_pasted_with_cr_line_ends_has_its_lines(
    home: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    clock = FrozenClock()
    settings = make_settings(home)
    ctx = make_context(settings, policy=policy, clock=clock)
    desk = staff_desk(ctx, totp)
    contact = Contact(email="praktijk@example.nl", phone="06 12345127", name="Praktijk")
    desk.send_new(contact, Method.SMS, Draft("Uitslag", "Zie bijlage."))
    clock.advance(seconds=30)
    app = make_desk_app(settings, ctx=ctx)
    async with app.run_test(size=(120, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("enter")  # open the conversation
        await wait_for_workers(pilot)
        await pilot.press("ctrl+e")
        await paste(pilot, CR_LINES)
        assert app.screen.query_one("#body", TextArea).text == CR_LINES.replace("\r", "\n")
