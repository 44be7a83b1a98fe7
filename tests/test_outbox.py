"""The outbox against real SMTP servers: authentication, retries, no duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from core.clock import FrozenClock
from core.mail import Email, new_message_id
from core.models import DeliveryStatus
from core.policy import Policy
from tests.conftest import Mailbag, SmtpServer, database_url, free_port, make_settings
from tests.races import overlap
from tui.factory import make_context

pytestmark = pytest.mark.both_databases  # also on PostgreSQL (tests/pg.py)


def an_email(to: str = "karin@huidtherapiex.nl") -> Email:
    return Email(
        to=to,
        subject="s",
        body="b",
        sender="info@declacare.nl",
        message_id=new_message_id("info@declacare.nl"),
    )


def test_smtp_with_user_and_password(home: Path, policy: Policy) -> None:
    bag = Mailbag()
    seen: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"p@ss word")

    port = free_port()
    controller = Controller(
        bag, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        url = f"smtp://mailer:p%40ss%20word@127.0.0.1:{port}"
        ctx = make_context(make_settings(home, url), policy=policy)
        with ctx.repo.transaction() as tx:
            ctx.outbox.enqueue_email(tx, an_email())
        report = asyncio.run(ctx.outbox.deliver_due())
        assert report.sent == 1
        assert seen == [("mailer", "p@ss word")]
        assert bag.next()["To"] == "karin@huidtherapiex.nl"

    finally:
        controller.stop()


def test_failures_back_off_and_keep_no_secret(
    home: Path, policy: Policy, smtp_down: SmtpServer
) -> None:
    clock = FrozenClock()
    ctx = make_context(make_settings(home, smtp_down.url), policy=policy, clock=clock)
    with ctx.repo.transaction() as tx:
        item = ctx.outbox.enqueue_email(tx, an_email())
    waits = []
    for _ in range(4):
        assert asyncio.run(ctx.outbox.deliver_due()).failed == 1
        with ctx.repo.transaction() as tx:
            current = tx.outbox_item(item.id)
        assert current and current.status == DeliveryStatus.PENDING
        assert current.last_error and "karin" not in current.last_error
        waits.append((current.next_attempt_at - clock.now).total_seconds())
        assert asyncio.run(ctx.outbox.deliver_due()).failed == 0  # not due yet: no hammering
        clock.now = current.next_attempt_at
    assert waits == sorted(waits) and waits[-1] > 4 * waits[0]  # exponential, with jitter
    smtp_down.start()
    assert asyncio.run(ctx.outbox.deliver_due()).sent == 1
    assert smtp_down.bag.next()["To"] == "karin@huidtherapiex.nl"


@pytest.mark.parametrize("deliverers", [2])
def test_two_processes_delivering_send_each_mail_once(
    home: Path, policy: Policy, smtp_server: SmtpServer, deliverers: int
) -> None:
    ctxs = [
        make_context(make_settings(home, smtp_server.url), policy=policy) for _ in range(deliverers)
    ]
    with ctxs[0].repo.transaction() as tx:
        for n in range(20):
            ctxs[0].outbox.enqueue_email(tx, an_email(f"guest{n}@praktijk.nl"))

    async def both() -> list[int]:
        reports = await asyncio.gather(*(c.outbox.deliver_due() for c in ctxs))
        return [r.sent for r in reports]

    assert sum(asyncio.run(both())) == 20
    recipients = [m["To"] for m in smtp_server.bag.all]
    assert sorted(recipients) == sorted(f"guest{n}@praktijk.nl" for n in range(20))


def test_twilio_messages_api_shape(home: Path, policy: Policy) -> None:
    from core.sms import Sms
    from tests.conftest import SmsGateway

    gateway = SmsGateway()
    try:
        url = f"twilio+http://AC123:s3cret@127.0.0.1:{gateway.port}/?from=%2B3197010203040"
        ctx = make_context(make_settings(home, sms_url=url), policy=policy)
        with ctx.repo.transaction() as tx:
            ctx.outbox.enqueue_sms(
                tx, Sms(to="+31612345127", body="123456 is your code", message_id="<1@x>")
            )
        assert asyncio.run(ctx.outbox.deliver_due()).sent == 1
        message = gateway.next()
    finally:
        gateway.stop()
    import base64

    assert message["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert (message["to"], message["from"], message["body"]) == (
        "+31612345127",
        "+3197010203040",
        "123456 is your code",
    )
    assert message["auth"] == "Basic " + base64.b64encode(b"AC123:s3cret").decode()


def test_the_sms_file_is_private_and_written_once_per_message(home: Path, policy: Policy) -> None:
    from core.sms import Sms

    ctx = make_context(make_settings(home), policy=policy)
    sms = Sms(to="+31612345127", body="123456 is your code", message_id="<1@x>")
    asyncio.run(ctx.sms.send(sms))
    asyncio.run(ctx.sms.send(sms))  # a retry after a crash
    log = home / "sms.log"
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert len(log.read_text().splitlines()) == 1


def test_deliveries_are_in_the_audit_log(home: Path, policy: Policy, smtp_down: SmtpServer) -> None:
    ctx = make_context(make_settings(home, smtp_down.url), policy=policy)
    with ctx.repo.transaction() as tx:
        item = ctx.outbox.enqueue_email(tx, an_email())
    asyncio.run(ctx.outbox.deliver_due())
    smtp_down.start()
    with ctx.repo.transaction() as tx:
        current = tx.outbox_item(item.id)
        current.next_attempt_at = ctx.clock()
        tx.save_outbox(current)
    asyncio.run(ctx.outbox.deliver_due())
    with ctx.repo.transaction() as tx:
        actions = [e.action for e in tx.audit_entries()]
        assert ctx.audit.verify(tx) == []
    assert actions == ["organisation.created", "notification.failed", "notification.delivered"]


def test_a_fan_out_is_delivered_in_waves_in_one_call(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    ctx = make_context(make_settings(home, smtp_server.url), policy=policy)
    with ctx.repo.transaction() as tx:
        for n in range(25):
            ctx.outbox.enqueue_email(tx, an_email(f"guest{n}@praktijk.nl"))
    # Waves of policy.delivery_concurrency (10), each claimed on its own: all 25 go.
    assert policy.delivery_concurrency == 10
    report = asyncio.run(ctx.outbox.deliver_due())
    assert (report.sent, report.failed, report.pending) == (25, 0, 0)
    assert sorted(m["To"] for m in smtp_server.bag.all) == sorted(
        f"guest{n}@praktijk.nl" for n in range(25)
    )
    with ctx.repo.transaction() as tx:
        assert ctx.audit.verify(tx) == []
        delivered = [e for e in tx.audit_entries() if e.action == "notification.delivered"]
    assert len(delivered) == 25


def test_a_second_worker_takes_other_mail_without_waiting_for_the_first(
    home: Path, policy: Policy, smtp_server: SmtpServer, database: str
) -> None:
    """Two workers (two hosts' `veilig outbox`): the first has claimed a wave and not
    committed yet. On PostgreSQL the second skips the rows the first holds and delivers
    the rest meanwhile, without waiting (FOR UPDATE SKIP LOCKED); on SQLite it waits for
    the first one's write lock. Either way every mail goes once."""
    settings = make_settings(home, smtp_server.url)
    first, second = (make_context(settings, policy=policy) for _ in range(2))
    with first.repo.transaction() as tx:
        for n in range(15):
            first.outbox.enqueue_email(tx, an_email(f"guest{n}@praktijk.nl"))

    def deliver(ctx) -> Callable[[], str]:
        return lambda: str(asyncio.run(ctx.outbox.deliver_due()).sent)

    met = overlap(
        (first, deliver(first)),
        (second, deliver(second)),
        "UPDATE outbox SET next_attempt_at",
        url=database_url(home),
        stop_when_reached=False,
    )
    assert not met.errors
    if database == "postgresql":
        assert met.how == "finished" and (met.first, met.second) == ("10", "5")
    else:
        assert met.how == "waited" and int(met.first) + int(met.second) == 15
    assert sorted(m["To"] for m in smtp_server.bag.all) == sorted(
        f"guest{n}@praktijk.nl" for n in range(15)
    )
