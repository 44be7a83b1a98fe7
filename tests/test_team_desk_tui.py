"""The desk as a team tool (issue 14) on screen: two staff members at two desks at once,
each seeing the other's take, reply and close without restarting; views; search as
they type; the wrong-recipient guard in the compose form.

Two apps under Pilot in one event loop, each with its own context (as two processes
have), on one home. The desks ask for changes on a timer (tui/desk/inbox.py); here the
test asks at the moment it wants, and waits for the answer, never for time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyotp
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from core.clock import FrozenClock
from core.desk import Desk
from core.i18n import _
from core.models import ConversationState, View
from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, make_settings, said
from tests.team_helpers import COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, add_colleague
from tests.tui_helpers import paste, screen_text, type_text, wait_for_workers, wait_until
from tui.factory import make_context, make_desk_app

WORK = ("core", "act", "index", "changes")  # the desk's worker groups


async def log_in(pilot: Pilot, email: str, password: str, code: str) -> None:
    await paste(pilot, email)
    await pilot.press("enter")
    await paste(pilot, password)
    await pilot.press("enter")
    await type_text(pilot, code)
    await pilot.press("enter")
    await wait_for_workers(pilot)
    await wait_for_workers(pilot, "index")


async def notice_changes(pilot: Pilot) -> None:
    """What the inbox's timer does every few seconds: ask, and show what changed. (Run
    by the app itself, as its timer is: with two apps in one test, code called from the
    test would see the other app as the active one.)"""
    screen = pilot.app.screen
    screen.call_later(screen.look_for_changes)
    await pilot.pause()
    await wait_for_workers(pilot, "changes")
    await wait_for_workers(pilot, "index")
    await wait_for_workers(pilot)


def row_of(pilot: Pilot, who: str) -> str:
    """The line of the inbox that shows ``who``."""
    [line] = [line for line in screen_text(pilot.app).splitlines() if who in line]
    return line


def names(pilot: Pilot) -> list[str]:
    """Who the inbox's rows are with, top to bottom, as the table shows them."""
    table = pilot.app.screen.query_one("#inbox", DataTable)
    shown = [table.get_row_at(n) for n in range(table.row_count)]
    return [str(cells[1]) for cells in shown if str(cells[0]).strip() or cells[2]]


async def settle(pilot: Pilot) -> None:
    """Wait until the desk's work is done, also work that finished work started (a take,
    then the page shown again)."""
    for _round in range(20):
        running = [w for w in pilot.app.workers if w.group in WORK and not w.is_finished]
        if not running:
            return
        await asyncio.gather(*(w.wait() for w in running), return_exceptions=True)
        await pilot.pause()
    raise AssertionError("the desk never came to rest")


async def press(pilot: Pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


@pytest.fixture
def office(home: Path, initialised, policy: Policy, totp: pyotp.TOTP):
    """One home, two staff members, three guests who wrote; a context per desk."""
    clock = FrozenClock()
    settings = make_settings(home)
    first = make_context(settings, policy=policy, clock=clock)
    second = make_context(settings, policy=policy, clock=clock)
    colleague_totp = add_colleague(first, initialised[1])
    for n, (name, subject) in enumerate(
        (
            ("Karin Janssen", "Declaratie maart"),
            ("Piet Bakker", "Adreswijziging"),
            ("Ömer Ünal", "Verwijzing knie"),
        )
    ):
        Starter(first).send(VerifiedGuest(name, f"guest{n}@example.nl"), Draft(subject, "Vraag."))
        clock.advance(minutes=1)
    desk = make_desk_app(settings, ctx=first)
    balie = make_desk_app(settings, ctx=second)
    return clock, totp, colleague_totp, desk, balie


# Full suite only (two apps, three views): the quick loop keeps two desks on one home in
# test_a_colleague_who_was_quicker_is_named_and_nothing_is_taken_twice, and take, reply,
# close and the change mark in tests/test_team_desk.py.
@pytest.mark.slow
async def test_two_desks_see_each_others_take_reply_and_close_without_restarting(office) -> None:
    clock, totp, colleague_totp, desk, balie = office
    async with desk.run_test(size=(120, 30)) as me, balie.run_test(size=(120, 30)) as colleague:
        await log_in(me, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
        await log_in(colleague, COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, colleague_totp.at(clock.now))
        assert names(me) == names(colleague) == ["Ömer Ünal", "Piet Bakker", "Karin Janssen"]

        # The colleague works from *unassigned* and takes the newest with one key.
        await press(colleague, "2")
        await press(colleague, "t")
        assert names(colleague) == ["Piet Bakker", "Karin Janssen"]
        await press(colleague, "1")
        assert names(colleague) == ["Ömer Ünal"]

        # My desk, untouched since log-in, shows who took it.
        assert _("you") not in row_of(me, "Ömer Ünal")
        await notice_changes(me)
        assert COLLEAGUE_EMAIL in row_of(me, "Ömer Ünal")
        await press(me, "2")
        assert names(me) == ["Piet Bakker", "Karin Janssen"]

        # The colleague replies: the conversation is waiting for them.
        await press(colleague, "enter")
        await press(colleague, "ctrl+e")
        colleague.app.screen.query_one("#body").insert("Dat is goed.")
        await press(colleague, "ctrl+s")
        await press(colleague, "enter")  # no attachments
        await press(colleague, "enter")  # send
        await press(colleague, "escape")
        await press(me, "3")
        await notice_changes(me)
        assert _("waiting") in row_of(me, "Ömer Ünal")

        # I take Piet Bakker and close Karin Janssen; the colleague sees both.
        await press(me, "2")
        await press(me, "t")  # Piet Bakker, the newest unassigned
        await press(me, "down")
        await press(me, "c")  # Karin Janssen: closed, and mine (nobody had it)
        assert names(me) == []
        await press(colleague, "3")
        await notice_changes(colleague)
        assert STAFF_EMAIL in row_of(colleague, "Piet Bakker")
        assert _("closed") in row_of(colleague, "Karin Janssen")
        await press(colleague, "4")
        assert names(colleague) == ["Karin Janssen"]

        # Reopened on my desk: back in everyone's open work.
        await press(me, "4")
        await press(me, "o")
        await notice_changes(colleague)
        assert names(colleague) == []
    with desk.ctx.repo.transaction() as tx:
        states = {c.id: c.state for c in tx.conversations(10)}
    assert sorted(states.values()) == [
        ConversationState.OPEN,
        ConversationState.OPEN,
        ConversationState.WAITING,
    ]


async def test_a_colleague_who_was_quicker_is_named_and_nothing_is_taken_twice(office) -> None:
    from core.desk import Desk

    clock, totp, colleague_totp, desk, balie = office
    # The colleague at their own desk (here: through the core, so that this app is the
    # only one on screen and its notifications are its own).
    colleague = Desk.login(
        balie.ctx, COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, colleague_totp.at(clock.now)
    )
    async with desk.run_test(size=(120, 30), notifications=True) as me:
        await log_in(me, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
        [newest, *_rest] = colleague.inbox()
        colleague.take(newest.conversation.id)  # Ömer Ünal, before my desk heard of it
        await press(me, "t")
        quicker = said("{staff} took this conversation in the meantime.", staff=COLLEAGUE_EMAIL)
        await wait_until(me, lambda: quicker in screen_text(me.app), "who was quicker")
        await wait_for_workers(me)
        assert COLLEAGUE_EMAIL in row_of(me, "Ömer Ünal")  # and the row shows it now
        # Taking over knowingly: the desk asks first.
        await press(me, "t")
        assert said("{staff} handles this conversation. Take it over?", staff=COLLEAGUE_EMAIL) in (
            screen_text(me.app).replace("\n", " ")
        )
        await press(me, "y")
        assert _("you") in row_of(me, "Ömer Ünal")
    assert colleague.inbox(View.MINE) == []


async def test_search_finds_as_staff_type_and_escape_goes_back_to_the_view(
    office, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, totp, _colleague_totp, desk, _balie = office
    # What the inbox showed each time a search index round began: the rows come first
    # (a round at the same time held SQLite's write lock and the Python lock while the
    # first page waited: docs/PERFORMANCE.md).
    rows_at_index: list[int] = []
    index_pending = Desk.index_pending

    def counted(self: Desk) -> int:
        rows_at_index.append(len(getattr(desk.screen, "rows", [])))
        return index_pending(self)

    monkeypatch.setattr(Desk, "index_pending", counted)
    async with desk.run_test(size=(120, 30)) as me:
        await log_in(me, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
        assert rows_at_index and rows_at_index[0] == 3
        await press(me, "slash")
        for typed, expected in (
            ("k", ["Ömer Ünal", "Karin Janssen"]),  # karin, and knie in Ömer's subject
            ("a", ["Karin Janssen"]),
            ("r", ["Karin Janssen"]),
        ):
            await type_text(me, typed)
            await settle(me)
            assert names(me) == expected, typed
        await press(me, "backspace", "backspace", "backspace")
        await type_text(me, "ad")
        await settle(me)
        assert names(me) == ["Piet Bakker"]  # adreswijziging, and no "ad…" elsewhere
        await type_text(me, "x")
        await settle(me)
        assert names(me) == [] and _("Nothing found.") in screen_text(me.app)
        await press(me, "escape")
        assert names(me) == ["Ömer Ünal", "Piet Bakker", "Karin Janssen"]
        assert me.app.focused is me.app.screen.query_one("#inbox")


# Full suite only: the quick loop keeps the guard's logic in tests/test_team_desk.py's
# test_the_guard_asks_for_a_new_address_and_a_near_miss_and_is_silent_for_a_known_one, and
# its question on screen in tests/test_flows23_tui.py's
# test_staff_send_recipient_opens_by_sms_saves_and_replies[sqlite-en].
@pytest.mark.slow
async def test_the_guard_asks_once_for_a_new_address_and_a_near_miss_not_for_a_known_one(
    office,
) -> None:
    from tui.confirm import ConfirmScreen
    from tui.desk.compose import ComposeScreen
    from tui.desk.inbox import InboxScreen

    clock, totp, _colleague_totp, desk, _balie = office

    async def write_to(pilot: Pilot, address: str) -> None:
        await press(pilot, "ctrl+n")
        for widget_id, text in (("to", address), ("subject", "Uitslag")):
            pilot.app.screen.query_one(f"#{widget_id}").focus()
            await pilot.pause()
            await paste(pilot, text)
        pilot.app.screen.query_one("#method").value = "email"
        await press(pilot, "ctrl+s")

    async with desk.run_test(size=(120, 40)) as me:
        await log_in(me, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
        # guest1@example.nl wrote to us, we never to them: asked; yes sends.
        await write_to(me, "guest1@example.nl")
        assert isinstance(me.app.screen, ConfirmScreen)
        heard = (
            "This office never wrote to {address}; it only received messages from it. "
            "Please check the address. Send to it anyway?"
        )
        assert said(heard, address="guest1@example.nl") in screen_text(me.app).replace("\n", " ")
        await press(me, "y")
        assert isinstance(me.app.screen, InboxScreen)
        await wait_for_workers(me, "index")
        # Now the office wrote to them: known, sent without a question.
        await write_to(me, "guest1@example.nl")
        assert isinstance(me.app.screen, InboxScreen)

        # A near miss of a known address: asked, naming the known one.
        await write_to(me, "guest1@exampel.nl")
        assert isinstance(me.app.screen, ConfirmScreen)
        question = screen_text(me.app).replace("\n", " ")
        near = (
            "This office never wrote to {address}, but it did to {known}. "
            "Did you mean that one? Send to {address} anyway?"
        )
        assert said(near, address="guest1@exampel.nl", known="guest1@example.nl") in question
        assert "guest1@example.nl" in question
        await press(me, "escape")  # no: back to the address
        assert isinstance(me.app.screen, ComposeScreen)
        assert me.app.focused is me.app.screen.query_one("#to")

        # A new address: asked once; yes sends.
        me.app.screen.query_one("#to").value = "info@ziekenhuis-west.nl"
        await press(me, "ctrl+s")
        assert isinstance(me.app.screen, ConfirmScreen)
        new = (
            "This office never wrote to {address}, nor heard from it. "
            "Please check the address. Send to it anyway?"
        )
        assert said(new, address="info@ziekenhuis-west.nl") in screen_text(me.app).replace(
            "\n", " "
        )
        await press(me, "y")
        assert isinstance(me.app.screen, InboxScreen)
        await wait_for_workers(me, "index")
        # Now it is known: no question the second time.
        await write_to(me, "info@ziekenhuis-west.nl")
        assert isinstance(me.app.screen, InboxScreen)
