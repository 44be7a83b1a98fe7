"""Two hosts of one office: two homes with the same server.key, one database and one
shared folder (VEILIG_SHARED: the sealed blobs and the audit head). A guest writes
through host A and staff read it on host B; staff send on B, the recipient opens and
replies on host A; the audit chain is one chain that
verifies from both hosts and whose deleted tail both report."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.attachments import Attachment
from core.config import Settings
from core.contact import Contact
from core.models import Method
from core.policy import Policy
from core.recipient import Recipient
from core.sealing import Draft
from core.starter import Starter
from tests import cli_runner
from tests.conftest import (
    MAILBOX,
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    code_in,
    reference_in,
    sms_code,
    staff_desk,
)
from tui.factory import init_home, make_context

pytestmark = pytest.mark.both_databases


def host(home: Path, url: str, shared: Path, smtp: str, sms: str) -> Settings:
    return Settings(home=home, database_url=url, smtp_url=smtp, sms_url=sms, shared=shared)


def veilig(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    env |= {
        "VEILIG_HOME": str(settings.home),
        "VEILIG_DATABASE_URL": settings.database_url,
        "VEILIG_SHARED": str(settings.shared),
    }
    return cli_runner.veilig("--lang", "en", *args, env=env, timeout=120)


def test_staff_on_one_host_and_a_recipient_on_the_other_share_one_office(
    tmp_path: Path,
    policy: Policy,
    clock,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    import pyotp

    shared = tmp_path / "shared"  # what both hosts mount (mounted before veilig starts)
    shared.mkdir(mode=0o700)
    url = os.environ.get("VEILIG_DATABASE_URL") or f"sqlite:///{tmp_path / 'office.db'}"
    a = host(tmp_path / "host-a", url, shared, smtp_server.url, sms_gateway.url)
    b = host(tmp_path / "host-b", url, shared, smtp_server.url, sms_gateway.url)
    made = init_home(
        a,
        org_name="DeclaCare",
        mailbox=MAILBOX,
        staff_email=STAFF_EMAIL,
        password=STAFF_PASSWORD,
        policy=policy,
        clock=clock,
    )
    totp = pyotp.TOTP(made.totp_secret)
    b.ensure_home()  # host B: its own home, the same server.key
    shutil.copy2(a.home / "server.key", b.home / "server.key")
    ctx_a = make_context(a, policy=policy, clock=clock)
    ctx_b = make_context(b, policy=policy, clock=clock)

    # A guest writes through host A (the starter), with the e-mail code; staff read it on B.
    starter = Starter(ctx_a)
    pending = starter.request_code("Karin", "karin@huidtherapie.nl")
    asyncio.run(ctx_b.outbox.deliver_due())  # host B's worker delivers A's mail
    guest = starter.verify(pending, code_in(smtp_server.bag.next_to("karin@huidtherapie.nl")))
    starter.send(guest, Draft("Vraag", "Mag ik een afspraak?", ()))

    scan = tmp_path / "verslag.bin"
    scan.write_bytes(os.urandom(300_000))
    desk = staff_desk(ctx_b, totp)
    desk.send_new(
        Contact(email="praktijk@fysio.nl", phone="06 12345127", name="Fysio"),
        Method.SMS,
        Draft("Verslag", "Zie bijlage.", (Attachment.from_path(scan, policy),)),
    )
    asyncio.run(ctx_a.outbox.deliver_due())  # host A's worker delivers B's mail
    reference = reference_in(smtp_server.bag.next_to("praktijk@fysio.nl"))

    recipient = Recipient(ctx_a)
    sent = recipient.request_code(recipient.lookup(reference))
    asyncio.run(ctx_b.outbox.deliver_due())
    thread = recipient.verify(sent, sms_code(sms_gateway.next()))
    [(opened, key)] = recipient.messages(thread)
    out = tmp_path / "out"
    out.mkdir()
    assert recipient.save_attachment(thread, opened, key, 0, out).read_bytes() == scan.read_bytes()
    clock.advance(minutes=1)
    recipient.reply(thread, Draft("Re: Verslag", "Ontvangen, dank.", ()))

    [row, guest_row] = desk.inbox()
    [(question, _key)] = desk.thread(guest_row.conversation.id).messages
    assert (question.subject, question.body) == ("Vraag", "Mag ik een afspraak?")
    view = desk.thread(row.conversation.id)
    assert [m.body for m, _k in view.messages] == ["Zie bijlage.", "Ontvangen, dank."]
    assert not list((a.home).glob("blobs")) and not list((b.home).glob("blobs"))

    for each in (a, b):
        verified = veilig(each, "audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(text("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)"))
    engine.dispose()
    for each in (a, b):
        verified = veilig(each, "audit", "verify")
        assert verified.returncode == 1, verified.stdout
        assert "NOT intact" in verified.stdout


@pytest.mark.slow
def test_outbox_workers_on_both_hosts_deliver_a_thousand_notifications_exactly_once(
    tmp_path: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    from core.mail import Email, new_message_id

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    url = os.environ.get("VEILIG_DATABASE_URL") or f"sqlite:///{tmp_path / 'office.db'}"
    a = host(tmp_path / "host-a", url, shared, smtp_server.url, "")
    b = host(tmp_path / "host-b", url, shared, smtp_server.url, "")
    init_home(
        a,
        org_name="DeclaCare",
        mailbox=MAILBOX,
        staff_email=STAFF_EMAIL,
        password=STAFF_PASSWORD,
        policy=policy,
    )
    b.ensure_home()
    shutil.copy2(a.home / "server.key", b.home / "server.key")
    ctx = make_context(a, policy=policy)
    ids = set()
    with ctx.repo.transaction() as tx:
        for n in range(1000):
            mail = Email(
                to=f"guest{n}@praktijk.nl",
                subject="s",
                body="b",
                sender=MAILBOX,
                message_id=new_message_id(MAILBOX),
            )
            ids.add(mail.message_id)
            ctx.outbox.enqueue_email(tx, mail)

    def worker(settings: Settings) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
        env |= {
            "VEILIG_HOME": str(settings.home),
            "VEILIG_DATABASE_URL": url,
            "VEILIG_SHARED": str(shared),
            "VEILIG_SMTP_URL": smtp_server.url,
        }
        return subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "--lang", "en", "outbox"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    workers = [worker(a), worker(b)]
    outputs = [w.communicate(timeout=600) for w in workers]
    for w, (out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out + err
    arrived = [smtp_server.bag.next(timeout=60)["Message-ID"] for _ in range(1000)]
    assert len(arrived) == len(set(arrived)) == 1000  # none twice
    assert set(arrived) == ids  # and none missing
    assert smtp_server.bag.received.empty()
    sent = [int(re.findall(r"Sent: (\d+)", out)[0]) for out, _err in outputs]
    assert sum(sent) == 1000, outputs
