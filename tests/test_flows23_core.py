"""Flows 2 and 3 through the core services, against real SMTP and a real SMS gateway."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest

from core.attachments import Attachment
from core.clock import FrozenClock
from core.contact import Contact
from core.desk import Desk
from core.errors import InvalidInput
from core.i18n import _, speaking
from core.models import Method
from core.policy import Policy
from core.recipient import Recipient
from core.sealing import Draft
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    make_settings,
    raw_database,
    reference_in,
    sms_code,
)
from tui.factory import make_context

pytestmark = pytest.mark.both_databases  # also on PostgreSQL (tests/pg.py)

PRACTITIONER = "praktijk@fysio-jansen.nl"
MOBILE = "06 12345127"


@pytest.fixture
def ctx(
    home: Path, policy: Policy, clock: FrozenClock, smtp_server: SmtpServer, sms_gateway: SmsGateway
):
    return make_context(
        make_settings(home, smtp_server.url, sms_gateway.url), policy=policy, clock=clock
    )


def deliver(ctx) -> None:
    asyncio.run(ctx.outbox.deliver_due())


def login(ctx, totp: pyotp.TOTP, clock: FrozenClock) -> Desk:
    return Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))


def test_staff_send_recipient_opens_with_sms_and_replies(
    tmp_path: Path,
    ctx,
    totp,
    clock,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    policy: Policy,
) -> None:
    scan = tmp_path / "uitslag.pdf"
    scan.write_bytes(os.urandom(200_000))
    desk = login(ctx, totp, clock)
    desk.send_new(
        Contact(email=PRACTITIONER, phone=MOBILE, name="Fysio Jansen"),
        Method.SMS,
        Draft("Uitslag", "Zie bijlage.", (Attachment.from_path(scan, policy),)),
    )
    deliver(ctx)
    notice = smtp_server.bag.next_to(PRACTITIONER)
    assert "Uitslag" not in notice.as_string() and "uitslag.pdf" not in notice.as_string()
    reference = reference_in(notice)

    recipient = Recipient(ctx)
    invited = recipient.lookup(reference.lower().replace("-", " "))
    assert invited.masked_destination == "+31 6 •• •• •1 27"
    sent = recipient.request_code(invited)
    deliver(ctx)
    sms = sms_gateway.next()
    assert sms["to"] == "+31612345127"
    thread = recipient.verify(sent, sms_code(sms))
    [(opened, key)] = recipient.messages(thread)
    assert (opened.subject, opened.body) == ("Uitslag", "Zie bijlage.")
    out = tmp_path / "out"
    out.mkdir()
    saved = recipient.save_attachment(thread, opened, key, 0, out)
    assert saved.read_bytes() == scan.read_bytes()

    clock.advance(minutes=5)
    recipient.reply(thread, Draft("Re: Uitslag", "Dank, ontvangen.", ()))
    inbox = desk.inbox()
    assert inbox[0].unread and inbox[0].who == "Fysio Jansen"
    view = desk.thread(inbox[0].conversation.id)
    assert [m.body for m, _ in view.messages] == ["Zie bijlage.", "Dank, ontvangen."]
    [row] = desk.sent()
    assert row.opened_at == thread.participant.opened_at and row.verified_via is Method.SMS
    assert row.replied_at == clock.now and row.subject == "Uitslag"
    assert row.notified_at is not None
    assert not desk.inbox()[0].unread


def test_guest_of_flow_one_gets_a_staff_reply_and_opens_it_with_an_email_code(
    ctx, totp, clock, smtp_server: SmtpServer
) -> None:
    from core.starter import Starter
    from tests.conftest import code_in

    starter = Starter(ctx)
    pending = starter.request_code("Karin Janssen", "karin@huidtherapiex.nl")
    deliver(ctx)
    guest = starter.verify(pending, code_in(smtp_server.bag.next_to("karin@huidtherapiex.nl")))
    starter.send(guest, Draft("Vraag", "Hoe zit het met mijn declaratie?"))

    desk = login(ctx, totp, clock)
    [row] = desk.inbox()
    assert row.who == "Karin Janssen"
    desk.reply(row.conversation.id, Draft("Re: Vraag", "Die is goedgekeurd."))
    deliver(ctx)
    # A .nl address: the notification and the code come in Dutch, whatever the desk speaks.
    with speaking("nl"):
        waiting = _("A secure message from {org} is waiting for you").format(org="DeclaCare")
        code_subject = _("Your verification code for {org}").format(org="DeclaCare")
    assert waiting.startswith("Er staat een beveiligd bericht")
    reference = reference_in(smtp_server.bag.next_to("karin@huidtherapiex.nl", waiting))
    recipient = Recipient(ctx)
    invited = recipient.lookup(reference)
    assert invited.method is Method.EMAIL and invited.masked_destination.endswith(
        "@huidtherapiex.nl"
    )
    sent = recipient.request_code(invited)
    deliver(ctx)
    code = code_in(smtp_server.bag.next_to("karin@huidtherapiex.nl", code_subject))
    thread = recipient.verify(sent, code)
    bodies = [m.body for m, _ in recipient.messages(thread)]
    assert bodies == ["Die is goedgekeurd."]  # the guest's own first message predates access


def test_sms_needs_a_valid_mobile_number(ctx, totp, clock) -> None:
    desk = login(ctx, totp, clock)
    for phone in ("", "010 5938127", "12"):
        with pytest.raises(InvalidInput):
            desk.send_new(Contact(PRACTITIONER, phone), Method.SMS, Draft("x", "y"))


def test_audit_chain_verifies_and_reports_edits_and_deletions(ctx, totp, clock, home: Path) -> None:
    desk = login(ctx, totp, clock)
    for _message in range(3):  # entries: 1 login, 2-4 sent
        desk.send_new(Contact(PRACTITIONER, MOBILE), Method.SMS, Draft("x", "y"))
    with ctx.repo.transaction() as tx:
        assert ctx.audit.verify(tx) == []
    with raw_database(home) as db:
        db.exec_driver_sql("UPDATE audit SET actor = 'staff:someone-else' WHERE seq = 1")
    with ctx.repo.transaction() as tx:
        assert [p.seq for p in ctx.audit.verify(tx)] == [1]
    with raw_database(home) as db:
        db.exec_driver_sql("DELETE FROM audit WHERE seq = 2")
    with ctx.repo.transaction() as tx:
        problems = [str(p) for p in ctx.audit.verify(tx)]
    assert "entry 2: missing (next is 3)" in problems and any(
        p.startswith("entry 3:") for p in problems
    )
    with raw_database(home) as db:
        db.exec_driver_sql("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    with ctx.repo.transaction() as tx:
        assert any("newest entries removed" in str(p) for p in ctx.audit.verify(tx))


@pytest.mark.parametrize("days", [0, 91])
def test_availability_outside_1_to_90_days_is_refused(ctx, totp, clock, days: int) -> None:
    desk = login(ctx, totp, clock)
    with pytest.raises(InvalidInput, match="between 1 and 90 days"):
        desk.send_new(
            Contact(PRACTITIONER, MOBILE), Method.SMS, Draft("x", "y"), timedelta(days=days)
        )


def damage_first_message(home: Path, conversation_id: str) -> None:
    """Flip the last byte of a conversation's first meta blob, on disk."""
    from sqlalchemy import text

    with raw_database(home) as db:
        [(blob_id, *_rest)] = db.execute(
            text(
                "SELECT i.blob_id, m.created_at FROM message_item i JOIN message m"
                " ON m.id = i.message_id WHERE m.conversation_id = :conversation"
                " AND i.role = 'meta' ORDER BY m.created_at LIMIT 1"
            ),
            {"conversation": conversation_id},
        ).fetchall()
    [path] = home.rglob(blob_id)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_one_damaged_message_leaves_the_other_rows_of_sent(ctx, totp, clock, home: Path) -> None:
    """Given two secure messages sent and the first one damaged on disk, when the desk
    lists *Sent*, then both rows are there: the damaged one marked and without a
    subject, the other as ever (one damaged message must not empty the view)."""
    desk = login(ctx, totp, clock)
    desk.send_new(Contact(PRACTITIONER, MOBILE, "Fysio Jansen"), Method.SMS, Draft("Uitslag", "a"))
    clock.advance(minutes=1)
    desk.send_new(Contact("tweede@example.nl", MOBILE, "Tweede"), Method.SMS, Draft("Verslag", "b"))
    [first] = [row for row in desk.sent() if row.subject == "Uitslag"]

    damage_first_message(home, first.participant.conversation_id)
    rows = desk.sent()

    assert [(r.contact.name, r.subject, r.damaged) for r in rows] == [
        ("Tweede", "Verslag", False),
        ("Fysio Jansen", "", True),
    ]


def test_sent_takes_as_many_queries_for_four_recipients_as_for_two(ctx, totp, clock) -> None:
    """*Sent* reads a page in a few queries, not a few per recipient."""
    from sqlalchemy import event

    desk = login(ctx, totp, clock)
    statements: list[str] = []
    event.listen(ctx.repo.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    counts = []
    for n in range(4):
        desk.send_new(Contact(f"p{n}@example.nl", MOBILE), Method.SMS, Draft("x", "y"))
        deliver(ctx)
        clock.advance(minutes=1)
        if n in (1, 3):
            statements.clear()
            assert len(desk.sent()) == n + 1
            counts.append(len(statements))
    assert counts[0] == counts[1] <= 6, statements
