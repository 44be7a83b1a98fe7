"""Flows 2 and 3 through the core services, against real SMTP and a real SMS gateway."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest

from core.clock import FrozenClock
from core.desk import Contact, Desk
from core.errors import CodeRejected, InvalidInput, LoginFailed, RateLimited
from core.i18n import _, speaking
from core.models import Method
from core.policy import Policy
from core.recipient import MessageUnavailable, Recipient
from core.sealing import Attachment, Draft
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    make_settings,
    reference_in,
    sms_code,
)
from tui.factory import make_context

PRACTITIONER = "praktijk@fysio-jansen.nl"
MOBILE = "06 12345127"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


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


def test_revoked_message_cannot_be_opened_even_with_a_valid_code(
    ctx, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    desk = login(ctx, totp, clock)
    desk.send_new(Contact(PRACTITIONER, MOBILE), Method.SMS, Draft("x", "y"))
    deliver(ctx)
    reference = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference))
    deliver(ctx)
    code = sms_code(sms_gateway.next())
    desk.revoke(desk.sent()[0].participant.id)
    with pytest.raises(MessageUnavailable) as withdrawn:
        recipient.verify(sent, code)
    assert withdrawn.value.reason == MessageUnavailable.REVOKED
    with pytest.raises(MessageUnavailable):
        recipient.lookup(reference)


def test_expired_message_says_so(ctx, totp, clock, smtp_server: SmtpServer) -> None:
    desk = login(ctx, totp, clock)
    desk.send_new(Contact(PRACTITIONER, MOBILE), Method.SMS, Draft("x", "y"), timedelta(days=2))
    deliver(ctx)
    reference = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    clock.advance(days=2)
    with pytest.raises(MessageUnavailable) as late:
        Recipient(ctx).lookup(reference)
    assert late.value.reason == MessageUnavailable.EXPIRED


def test_unknown_reference_looks_like_a_known_one(
    ctx, totp, clock, smtp_server: SmtpServer
) -> None:
    from core.references import new_reference

    desk = login(ctx, totp, clock)
    desk.send_new(Contact(PRACTITIONER, MOBILE), Method.SMS, Draft("x", "y"))
    deliver(ctx)
    known = Recipient(ctx).lookup(reference_in(smtp_server.bag.next_to(PRACTITIONER)))
    unknown = Recipient(ctx).lookup(new_reference())
    shape = lambda invited: (invited.org_name, invited.method, len(invited.masked_destination))  # noqa: E731
    assert shape(known) == shape(unknown)
    sent = Recipient(ctx).request_code(unknown)
    with pytest.raises(CodeRejected):
        Recipient(ctx).verify(sent, "123456")


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


def test_totp_replay_is_refused(ctx, totp, clock) -> None:
    code = totp.at(clock.now)
    Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, code)
    with pytest.raises(LoginFailed):
        Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, code)
    clock.advance(seconds=30)
    Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))


def test_failed_logins_are_throttled_alike_for_known_and_unknown(
    ctx, totp, clock, policy: Policy
) -> None:
    for email in (STAFF_EMAIL, "nobody@declacare.nl"):
        for _attempt in range(policy.login_failures_allowed):
            with pytest.raises(LoginFailed):
                Desk.login(ctx, email, "wrong password!!", "000000")
        with pytest.raises(RateLimited):
            Desk.login(ctx, email, STAFF_PASSWORD, totp.at(clock.now))
    clock.advance(seconds=policy.login_failure_window.total_seconds() + 1)
    Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))


def test_wrong_totp_with_right_password_fails_the_same_way(ctx, totp, clock) -> None:
    with pytest.raises(LoginFailed) as wrong_totp:
        Desk.login(
            ctx,
            STAFF_EMAIL,
            STAFF_PASSWORD,
            "000000" if totp.at(clock.now) != "000000" else "111111",
        )
    with pytest.raises(LoginFailed) as unknown:
        Desk.login(ctx, "nobody@declacare.nl", STAFF_PASSWORD, totp.at(clock.now))
    assert str(wrong_totp.value) == str(unknown.value)


def test_sms_needs_a_valid_mobile_number(ctx, totp, clock) -> None:
    desk = login(ctx, totp, clock)
    for phone in ("", "010 5938127", "12"):
        with pytest.raises(InvalidInput):
            desk.send_new(Contact(PRACTITIONER, phone), Method.SMS, Draft("x", "y"))


def test_audit_chain_verifies_and_reports_edits_and_deletions(ctx, totp, clock, home: Path) -> None:
    import sqlite3

    desk = login(ctx, totp, clock)
    for _message in range(3):  # entries: 1 login, 2-4 sent
        desk.send_new(Contact(PRACTITIONER, MOBILE), Method.SMS, Draft("x", "y"))
    with ctx.repo.transaction() as tx:
        assert ctx.audit.verify(tx) == []
    db = sqlite3.connect(home / "veilig.db")
    db.execute("UPDATE audit SET actor = 'staff:someone-else' WHERE seq = 1")
    db.commit()
    with ctx.repo.transaction() as tx:
        assert [p.seq for p in ctx.audit.verify(tx)] == [1]
    db.execute("DELETE FROM audit WHERE seq = 2")
    db.commit()
    with ctx.repo.transaction() as tx:
        problems = [str(p) for p in ctx.audit.verify(tx)]
    assert "entry 2: missing (next is 3)" in problems and any(
        p.startswith("entry 3:") for p in problems
    )
    db.execute("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    db.commit()
    with ctx.repo.transaction() as tx:
        assert any("newest entries removed" in str(p) for p in ctx.audit.verify(tx))


def test_a_reply_after_revoking_does_not_give_access_again(
    ctx, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    desk = login(ctx, totp, clock)
    message = desk.send_new(Contact(PRACTITIONER, MOBILE), Method.SMS, Draft("x", "y"))
    desk.revoke(desk.sent()[0].participant.id)
    with pytest.raises(InvalidInput, match="revoked"):
        desk.reply(message.conversation_id, Draft("Re: x", "after revoking"))
    assert len(desk.sent()) == 1


@pytest.mark.parametrize("days", [0, 91])
def test_availability_outside_1_to_90_days_is_refused(ctx, totp, clock, days: int) -> None:
    desk = login(ctx, totp, clock)
    with pytest.raises(InvalidInput, match="between 1 and 90 days"):
        desk.send_new(
            Contact(PRACTITIONER, MOBILE), Method.SMS, Draft("x", "y"), timedelta(days=days)
        )


def test_parallel_login_guesses_get_no_more_tries_than_the_limit(
    home: Path, policy: Policy
) -> None:
    import threading
    from dataclasses import replace

    from core.policy import Argon2Cost

    # A KDF slow enough that all guesses pass the first check before any failure is
    # recorded: the race that the second count, inside the recording transaction,
    # closes. (An unknown address runs the policy's KDF on a dummy key: same path.)
    slow = replace(policy, argon2=Argon2Cost(iterations=3, memory_kib=64 * 1024, lanes=1))
    ctx = make_context(make_settings(home), policy=slow)
    outcomes: list[str] = []
    barrier = threading.Barrier(12)

    def guess(n: int) -> None:
        barrier.wait()
        try:
            Desk.login(ctx, "guess@declacare.nl", STAFF_PASSWORD, f"{n:06d}")
            outcomes.append("in")
        except LoginFailed:
            outcomes.append("evaluated")
        except RateLimited:
            outcomes.append("throttled")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Only as many guesses as the policy allows were judged; the rest learned nothing.
    assert outcomes.count("evaluated") + outcomes.count("in") <= policy.login_failures_allowed
    assert outcomes.count("throttled") >= 12 - policy.login_failures_allowed
