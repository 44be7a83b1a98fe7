"""Flow 1 when things go wrong: SMTP down at send time; hostile text on screen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.policy import Policy
from tests.conftest import SmtpServer, body_of, code_in, make_settings
from tests.tui_helpers import ask_for_code, paste, screen_text, type_text, wait_for_workers
from tui.factory import make_context, make_starter_app

pytestmark = pytest.mark.both_databases  # also on PostgreSQL (tests/pg.py)

GUEST = "karin@huidtherapiex.nl"
HOSTILE = "[bold]x[/bold] [link=http://x]y[/link] \x1b[31mred\x1b]52;c;aGk=\x07"


async def unlock(pilot, smtp: SmtpServer, name: str = "Karin Janssen") -> None:
    await ask_for_code(pilot, GUEST, name)
    code = code_in(await asyncio.to_thread(smtp.bag.next_to, GUEST))
    await type_text(pilot, code)
    await pilot.press("enter")
    await wait_for_workers(pilot)


async def test_smtp_down_at_send_time_stores_the_message_and_delivers_later(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    ctx = make_context(settings, policy=policy)
    app = make_starter_app(settings, ctx=ctx)
    async with app.run_test(size=(110, 40)) as pilot:
        await unlock(pilot, smtp_server)
        smtp_server.stop()  # the mail server dies after the code arrived

        await paste(pilot, "Uitslag")
        await pilot.press("enter")
        app.screen.query_one("#body").insert("De uitslag volgt.")
        await pilot.press("ctrl+s", "enter", "enter")
        await wait_for_workers(pilot)
        assert "arrived at DeclaCare in good order" in screen_text(app)
        await app.workers.wait_for_complete()  # the delivery round that failed

        with ctx.repo.transaction() as tx:
            assert tx.count_pending_outbox() == 2  # confirmation + staff notice, queued
        with ctx.repo.transaction() as tx:
            [stored] = tx.messages()
        assert stored.attachment_count == 0

        # The server comes back; the queued mail goes out (on the backoff schedule; here now).
        smtp_server.start()
        with ctx.repo.transaction() as tx:
            for item in tx.due_outbox(ctx.clock() + policy.delivery_max_backoff * 2, 10):
                item.next_attempt_at = ctx.clock()
                tx.save_outbox(item)
        app.deliver_outbox()
        confirmation = await asyncio.to_thread(smtp_server.bag.next_to, GUEST, "arrived")
        await app.workers.wait_for_complete()
        assert "in good order" in body_of(confirmation)

    with ctx.repo.transaction() as tx:
        assert tx.count_pending_outbox() == 0
    # Delivering again sends nothing twice.
    assert (await ctx.outbox.deliver_due()).sent == 0
    assert smtp_server.bag.received.qsize() == 1  # only the staff notice is left unread


async def test_markup_and_escapes_from_people_are_shown_literally(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(140, 50)) as pilot:
        await unlock(pilot, smtp_server, name=f"Karin {HOSTILE}")
        await paste(pilot, "Onderwerp")
        await pilot.press("enter")
        app.screen.query_one("#body").insert(f"Body {HOSTILE}")
        await pilot.press("ctrl+s")
        shown = screen_text(app)
    literal = "[bold]x[/bold] [link=http://x]y[/link] \u241b[31mred\u241b]52;c;aGk=\u2407"
    assert f"Karin {literal}" in shown  # the echoed name and the greeting
    assert f"Thank you, Karin {literal}" in shown
    assert f"Body {literal}" in shown
    assert "\x1b" not in shown
