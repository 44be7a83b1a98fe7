"""Seed flows 2 and 3 through the real desk and recipient TUIs, with real SMTP and SMS."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pyotp
import pytest
from textual.widgets import DataTable, Input

from core.clock import FrozenClock
from core.i18n import _, format_datetime
from core.policy import Policy
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    make_settings,
    reference_in,
    said,
    sms_code,
)
from tests.test_flow1_tui import assert_nothing_in_the_clear
from tests.tui_helpers import paste, save_attachments_to, screen_text, type_text, wait_for_workers
from tui.factory import make_context, make_desk_app, make_recipient_app

pytestmark = pytest.mark.both_databases  # also on PostgreSQL (tests/pg.py)

PRACTITIONER = "praktijk@fysio-jansen.nl"


async def log_in(pilot, totp: pyotp.TOTP, clock: FrozenClock) -> None:
    await paste(pilot, STAFF_EMAIL)
    await pilot.press("enter")
    await paste(pilot, STAFF_PASSWORD)
    await pilot.press("enter")
    await type_text(pilot, totp.at(clock.now))
    await pilot.press("enter")
    await wait_for_workers(pilot)
    assert _("Inbox · {staff}").format(staff=STAFF_EMAIL) in screen_text(pilot.app)


async def fill(pilot, widget_id: str, text: str) -> None:
    pilot.app.screen.query_one(f"#{widget_id}").focus()
    await pilot.pause()  # focus moves on the next message round
    await paste(pilot, text)


# The Dutch run in the full suite only: the English run keeps seed flows 2 and 3 in the
# quick loop, and the Dutch screens stay there through test_first_week.py's [nl] tests and
# test_i18n.py's test_the_dutch_catalog_has_every_message_translated.
@pytest.mark.parametrize(
    "language", ["en", pytest.param("nl", marks=pytest.mark.slow)], indirect=True
)
async def test_staff_send_recipient_opens_by_sms_saves_and_replies(
    language: str,
    tmp_path: Path,
    home: Path,
    policy: Policy,
    totp: pyotp.TOTP,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    clock = FrozenClock()
    settings = make_settings(home, smtp_server.url, sms_gateway.url)
    ctx = make_context(settings, policy=policy, clock=clock)
    letter, scan, answer = (
        tmp_path / "verwijzing.pdf",
        tmp_path / "rontgen.tiff",
        tmp_path / "akkoord.pdf",
    )
    letter.write_bytes(os.urandom(40_000))
    scan.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    answer.write_bytes(os.urandom(20_000))

    # Staff: log in, compose a secure message with two attachments, send.
    desk = make_desk_app(settings, ctx=ctx)
    async with desk.run_test(size=(120, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+n")
        await fill(pilot, "to", PRACTITIONER)
        await fill(pilot, "name", "Fysio Jansen")
        await fill(pilot, "phone", "06 12345127")
        await fill(pilot, "subject", "Verwijzing cliënt 4471")
        desk.screen.query_one("#compose-body").insert("Beste collega,\nzie de bijlagen.")
        for path in (letter, scan):
            await fill(pilot, "attach", str(path))
            await pilot.press("enter")
        await pilot.press("ctrl+s")
        await wait_for_workers(pilot)
        # The office never wrote to this address: the desk asks once.
        never = "This office never wrote to {address}, nor heard from it. Please check the address. Send to it anyway?"  # noqa: E501
        assert said(never, address=PRACTITIONER) in screen_text(desk)
        await pilot.press("y")
        await wait_for_workers(pilot)
        assert _("Inbox · {staff}").format(staff=STAFF_EMAIL) in screen_text(desk)
    await ctx.outbox.deliver_due()
    notice = await asyncio.to_thread(smtp_server.bag.next_to, PRACTITIONER)
    reference = reference_in(notice)

    # The recipient: reference -> masked number -> SMS code -> unlock -> save -> reply.
    clock.advance(minutes=3)
    recipient = make_recipient_app(settings, ctx=ctx)
    saved = tmp_path / "saved"
    saved.mkdir()
    async with recipient.run_test(size=(120, 45)) as pilot:
        await paste(pilot, reference)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        assert "+31 6 •• •• •1 27" in screen_text(recipient)
        if language == "nl":
            assert "Is dat uw nummer?" in screen_text(recipient).replace("\n", " ")
        await pilot.press("enter")  # get the code
        await wait_for_workers(pilot)
        await recipient.workers.wait_for_complete(
            [w for w in recipient.workers if w.group == "outbox"]
        )
        code = sms_code(await asyncio.to_thread(sms_gateway.next))
        await type_text(pilot, code)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        shown = screen_text(recipient)
        assert "Verwijzing cliënt 4471" in shown and "rontgen.tiff" in shown
        await save_attachments_to(pilot, saved)
        assert (saved / letter.name).read_bytes() == letter.read_bytes()
        assert (saved / scan.name).read_bytes() == scan.read_bytes()

        clock.advance(minutes=2)
        await pilot.press("ctrl+e")
        recipient.screen.query_one("#body").insert("Dank, akkoord getekend retour.")
        await pilot.press("ctrl+s")
        await paste(pilot, str(answer))
        await pilot.press("enter")
        await pilot.press("enter")  # done with attachments
        await pilot.press("enter")  # send
        await wait_for_workers(pilot)
        assert said("Your reply was sent to {org}, encrypted.", org="DeclaCare") in screen_text(
            recipient
        )
        replied_at = clock.now

    # Staff again: the reply in the inbox, Sent shows opened and replied with their times.
    clock.advance(seconds=60)
    desk = make_desk_app(settings, ctx=ctx)
    async with desk.run_test(size=(140, 45)) as pilot:
        await log_in(pilot, totp, clock)
        inbox = desk.screen.query_one("#inbox", DataTable)
        assert inbox.row_count == 1 and str(inbox.get_row_at(0)[0]) == "●"  # unread
        await pilot.press("enter")
        await wait_for_workers(pilot)
        shown = screen_text(desk)
        assert "Dank, akkoord getekend retour." in shown and "akkoord.pdf" in shown
        out = tmp_path / "desk"
        out.mkdir()
        await save_attachments_to(pilot, out)
        assert (out / answer.name).read_bytes() == answer.read_bytes()
        await pilot.press("escape", "escape", "ctrl+t")
        await wait_for_workers(pilot)
        sent = screen_text(desk)
    with ctx.repo.transaction() as tx:
        [row] = tx.participants()
    assert row.opened_at is not None and row.replied_at == replied_at
    [line] = [text for text in sent.splitlines() if PRACTITIONER in text]
    shown_times = [format_datetime(t, year=False) for t in (row.opened_at, replied_at)]
    assert f"{shown_times[0]} ({_('SMS')})" in line and shown_times[1] in line  # opened, replied

    secrets_at_rest = ["Verwijzing cliënt 4471", "zie de bijlagen", "Dank, akkoord getekend", code]
    secrets_at_rest += [PRACTITIONER, "+31612345127", reference, reference.replace("-", "")]
    secrets_at_rest += [p.name for p in (letter, scan, answer)]
    assert_nothing_in_the_clear(
        home, secrets_at_rest, [p.read_bytes() for p in (letter, scan, answer)]
    )


async def test_an_idle_desk_locks_and_asks_for_a_log_in_again(
    home: Path, policy: Policy, totp: pyotp.TOTP, smtp_server: SmtpServer
) -> None:
    from tui.desk.inbox import InboxScreen
    from tui.desk.login import LoginScreen

    clock = FrozenClock()
    settings = make_settings(home, smtp_server.url)
    app = make_desk_app(settings, ctx=make_context(settings, policy=policy, clock=clock))
    async with app.run_test(size=(120, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+t")  # somewhere deeper than the inbox
        await wait_for_workers(pilot)
        app.lock_if_idle()  # not idle yet: nothing happens
        assert not isinstance(app.screen, LoginScreen)
        app.last_input_at -= policy.idle_lock.total_seconds()
        app.lock_if_idle()
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        assert not any(isinstance(s, InboxScreen) for s in app.screen_stack)
        assert "Password" in screen_text(app)


async def test_an_idle_recipient_dialog_closes(home: Path, policy: Policy) -> None:
    settings = make_settings(home)
    app = make_recipient_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(120, 45)) as pilot:
        app.last_input_at -= policy.idle_lock.total_seconds()
        app.lock_if_idle()
        await pilot.pause()
    assert not app.is_running and "without activity" in app.closed_reason


async def test_escape_on_a_half_written_message_asks_first(
    home: Path, policy: Policy, totp: pyotp.TOTP, smtp_server: SmtpServer
) -> None:
    from tui.confirm import ConfirmScreen
    from tui.desk.compose import ComposeScreen
    from tui.desk.inbox import InboxScreen

    clock = FrozenClock()
    settings = make_settings(home, smtp_server.url)
    app = make_desk_app(settings, ctx=make_context(settings, policy=policy, clock=clock))
    async with app.run_test(size=(120, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+n")
        await fill(pilot, "subject", "Uitslag")
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # no: keep writing
        assert isinstance(app.screen, ComposeScreen)
        assert app.screen.query_one("#subject", Input).value == "Uitslag"
        await pilot.press("escape", "j")  # ja: discard
        assert isinstance(app.screen, InboxScreen)


async def test_the_inbox_pages_through_older_conversations(
    home: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    from core.sealing import Draft
    from core.starter import Starter, VerifiedGuest
    from tui.desk.inbox import INBOX_PAGE

    clock = FrozenClock()
    settings = make_settings(home)
    ctx = make_context(settings, policy=policy, clock=clock)
    for n in range(INBOX_PAGE + 5):
        Starter(ctx).send(VerifiedGuest(f"Guest {n}", f"guest{n}@example.nl"), Draft("s", "b"))
        clock.advance(minutes=1)
    desk = make_desk_app(settings, ctx=ctx)
    async with desk.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, clock)
        table = desk.screen.query_one("#inbox", DataTable)
        assert table.row_count == INBOX_PAGE and "Guest 54" in screen_text(desk)
        await pilot.press("left")  # there is nothing newer: nothing happens
        await wait_for_workers(pilot)
        assert table.row_count == INBOX_PAGE
        await pilot.press("right")
        await wait_for_workers(pilot)
        shown = screen_text(desk)
        assert table.row_count == 5 and "Guest 4 " in shown and "Guest 54" not in shown
        assert "51–55" in shown
        await pilot.press("right")  # the last page: stays
        await wait_for_workers(pilot)
        assert table.row_count == 5
        await pilot.press("left")
        await wait_for_workers(pilot)
        assert table.row_count == INBOX_PAGE and "1–50" in screen_text(desk)
