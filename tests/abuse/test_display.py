"""Display attacks: text from strangers shown literally on every screen that shows it.

A name, subject, body or file name may carry Rich markup, ANSI colours, OSC 52 (write
the clipboard), OSC 8 (a hidden link), a bidi override (U+202E makes ``fdp.exe`` read
as ``exe.pdf``), zero-width and control characters. Each must reach the screen as
visible, inert text: the markup as its brackets, each control as a placeholder.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyotp

from core.clock import FrozenClock
from core.contact import Contact
from core.display import literal
from core.models import Method
from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from tests.conftest import (
    SmsGateway,
    SmtpServer,
    body_of,
    make_settings,
    reference_in,
    staff_desk,
)
from tests.test_flows23_tui import fill, log_in
from tests.tui_helpers import (
    save_attachments_to,
    screen_text,
    unlock_by_sms,
    wait_for_workers,
    wait_until,
)
from tui.factory import make_context, make_desk_app, make_recipient_app

# Everything a hostile sender would try at once.
HOSTILE = (
    "[bold]b[/bold] [link=http://evil.example]l[/link] "
    "\x1b[31mred\x1b[0m "
    "\x1b]52;c;aGk=\x07 "  # OSC 52: put "hi" on the clipboard
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ "  # OSC 8: a hidden link
    "rtl\u202efdp.exe "  # bidi override
    "zw\u200bsp\ufeff "  # zero-width space, BOM
    "bell\x07 back\x08 cr\r end"
)
# A one-line field with a line break would start a fake line of its own in a bubble.
SPOOF = "Karin\nSubject: Urgent, pay invoice 4471 today"
# File names cannot hold "/" or NUL; everything else goes.
HOSTILE_FILE = "[bold]f[reverse] \x1b[31m \x1b]52;c;aGk=\x07 rtl\u202efdp.exe zw\u200b.pdf"
DANGEROUS = ("\x1b", "\x07", "\x08", "\r", "\u202e", "\u200b", "\ufeff")


def assert_shown_literally(shown: str, text: str, *, what: str) -> None:
    """``text`` is on the screen as its literal form, and nothing raw reached it."""
    visible = literal(text)
    # Long lines wrap: compare with the line breaks of the screen taken out.
    flat = shown.replace("\n", "")
    assert visible in flat, f"{what} is not shown literally in:\n{shown}"
    for raw in DANGEROUS:
        assert raw not in shown, f"{what}: raw {raw!r} reached the screen"


def mail_text(message) -> str:
    return body_of(message).replace("\r\n", "\n")  # SMTP's own line ends are not an attack


async def test_desk_views_show_a_guests_hostile_name_subject_body_and_file_name_literally(
    tmp_path: Path, home: Path, policy: Policy, totp: pyotp.TOTP, smtp_server: SmtpServer
) -> None:
    clock = FrozenClock()
    settings = make_settings(home, smtp_server.url)
    ctx = make_context(settings, policy=policy, clock=clock)
    hostile_file = tmp_path / HOSTILE_FILE
    hostile_file.write_bytes(b"%PDF-1.7 scan")
    Starter(ctx).send(
        VerifiedGuest(name=f"Karin {HOSTILE}", email="karin@example.nl"),
        Draft(f"Subject {HOSTILE}", f"Body {HOSTILE}", (ctx.attachment(hostile_file),)),
    )
    clock.advance(minutes=1)
    Starter(ctx).send(VerifiedGuest(name=SPOOF, email="spoof@example.nl"), Draft("Hi", "b", ()))
    await ctx.outbox.deliver_due()
    confirmation = await asyncio.to_thread(smtp_server.bag.next_to, "karin@example.nl")
    assert_shown_literally(mail_text(confirmation), f"Karin {HOSTILE}", what="name in the e-mail")

    desk = make_desk_app(settings, ctx=ctx)
    async with desk.run_test(size=(250, 60)) as pilot:
        await log_in(pilot, totp, clock)
        name = literal(f"Karin {HOSTILE}")[:39] + "…"  # long names are cut in the table
        # The table sizes its columns on a later refresh: wait for it, don't sleep.
        await wait_until(pilot, lambda: name in screen_text(desk), "the inbox rows")
        assert literal(SPOOF)[:39] in screen_text(desk)  # the line break as ␊, on one line
        await pilot.press("enter")  # the newest first: the line-break name
        await wait_for_workers(pilot)
        assert_shown_literally(screen_text(desk), SPOOF, what="sender name with a line break")
        assert "\nSubject: Urgent" not in screen_text(desk)
        await pilot.press("escape")
        await wait_until(pilot, lambda: name in screen_text(desk), "the inbox again")
        await pilot.press("down")
        await pilot.press("enter")
        await wait_for_workers(pilot)
        shown = screen_text(desk)
        for text, what in (
            (f"Karin {HOSTILE}", "sender name"),
            (f"Subject {HOSTILE}", "subject"),
            (f"Body {HOSTILE}", "body"),
            (HOSTILE_FILE, "attachment name"),
        ):
            assert_shown_literally(shown, text, what=what)

        # Saving: the name on disk loses every control and bidi character.
        out = tmp_path / "out"
        out.mkdir()
        await save_attachments_to(pilot, out)
        [saved] = out.iterdir()
        assert not any(raw in saved.name for raw in DANGEROUS)
        assert saved.name.endswith(".pdf") and saved.read_bytes() == b"%PDF-1.7 scan"
        assert_shown_literally(screen_text(desk), saved.name, what="saved name")


async def test_staff_compose_and_sent_show_hostile_names_literally(
    tmp_path: Path, home: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    clock = FrozenClock()
    settings = make_settings(home)
    ctx = make_context(settings, policy=policy, clock=clock)
    hostile_file = tmp_path / HOSTILE_FILE
    hostile_file.write_bytes(b"scan")
    desk = make_desk_app(settings, ctx=ctx)
    async with desk.run_test(size=(250, 60)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+n")
        await fill(pilot, "to", "praktijk@fysio-jansen.nl")
        await fill(pilot, "name", f"Fysio {HOSTILE}")
        await fill(pilot, "phone", "06 12345127")
        await fill(pilot, "subject", f"Subject {HOSTILE}")
        desk.screen.query_one("#compose-body").insert("Beste collega")
        await fill(pilot, "attach", str(hostile_file))
        await pilot.press("enter")
        await wait_for_workers(pilot)
        assert_shown_literally(screen_text(desk), HOSTILE_FILE, what="attached file")
        await pilot.press("ctrl+s")
        await wait_for_workers(pilot)
        await pilot.press("y")  # a new address: the wrong-recipient guard asks once
        await wait_for_workers(pilot)
        await pilot.press("ctrl+t")
        await wait_for_workers(pilot)
        cut = literal(f"Subject {HOSTILE}")[:39] + "…"
        await wait_until(pilot, lambda: cut in screen_text(desk), "the subject in Sent")
        assert not any(raw in screen_text(desk) for raw in DANGEROUS)


async def test_the_recipient_sees_hostile_text_from_staff_literally(
    tmp_path: Path,
    home: Path,
    policy: Policy,
    totp: pyotp.TOTP,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    """The guest views: a compromised or careless sender must not reach the
    practitioner's terminal either."""
    clock = FrozenClock()
    settings = make_settings(home, smtp_server.url, sms_gateway.url)
    ctx = make_context(settings, policy=policy, clock=clock)
    hostile_file = tmp_path / HOSTILE_FILE
    hostile_file.write_bytes(b"scan")
    staff_desk(ctx, totp).send_new(
        Contact(email="praktijk@fysio-jansen.nl", phone="+31612345127", name=f"Fysio {HOSTILE}"),
        Method.SMS,
        Draft(f"Subject {HOSTILE}", f"Body {HOSTILE}", (ctx.attachment(hostile_file),)),
    )
    await ctx.outbox.deliver_due()
    notice = await asyncio.to_thread(smtp_server.bag.next_to, "praktijk@fysio-jansen.nl")
    assert_shown_literally(mail_text(notice), f"Fysio {HOSTILE}", what="name in the e-mail")

    recipient = make_recipient_app(settings, ctx=ctx)
    async with recipient.run_test(size=(250, 60)) as pilot:
        await unlock_by_sms(pilot, reference_in(notice), sms_gateway)
        shown = screen_text(recipient)
    for text, what in (
        (f"Subject {HOSTILE}", "subject"),
        (f"Body {HOSTILE}", "body"),
        (HOSTILE_FILE, "attachment name"),
    ):
        assert_shown_literally(shown, text, what=what)
