"""Faults: a process killed mid-send or mid-delivery, a long SMTP outage, two processes
on one database. After each: nothing half-visible, nothing lost, no mail twice under
two identities.

(A full disk while storing a blob: tests/test_starter_screen.py::
test_a_full_disk_says_so_keeps_the_draft_and_leaves_no_half_blob, on a real tmpfs.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest

from core.clock import FrozenClock
from core.mail import confirmation_email
from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from storage.blobs import FileBlobStore
from tests import cli_runner
from tests.conftest import SmtpServer, free_port, make_settings, staff_desk
from tui.factory import make_context

# kill -9 of real processes and long outages; processes sharing one database, on each engine
pytestmark = [pytest.mark.slow, pytest.mark.both_databases]

ROOT = Path(__file__).resolve().parents[2]

SEND_AND_HANG = """
import sys
from pathlib import Path
from core.policy import DEFAULT_POLICY
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from tests.conftest import make_settings
from tui.factory import make_context

ctx = make_context(make_settings(Path(sys.argv[1])), policy=DEFAULT_POLICY.with_cheap_kdf())

def progress(done, total):
    if done >= 3 * 65536:  # well into the attachment: some blobs whole, one half-written
        print("sealing", flush=True)
        sys.stdin.read()  # hold here until killed

attachment = ctx.attachment(Path(sys.argv[2]))
Starter(ctx).send(
    VerifiedGuest("Karin", "karin@example.nl"), Draft("Uitslag", "Tekst", (attachment,)), progress
)
print("sent", flush=True)
"""


def python(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True, **kwargs)


def test_kill_9_in_the_middle_of_sealing_leaves_nothing_half_visible(
    tmp_path: Path, home: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    scan = tmp_path / "scan.bin"
    scan.write_bytes(os.urandom(8 * 65536))
    sender = python(
        "-c", SEND_AND_HANG, str(home), str(scan), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert sender.stdout is not None
    assert sender.stdout.readline().strip() == "sealing"  # the event: it is mid-seal
    sender.send_signal(signal.SIGKILL)
    sender.wait()
    blobs = FileBlobStore(home / "blobs")
    left = list((home / "blobs").glob("??/*"))
    assert left, "the send had written something before it was killed"

    clock = FrozenClock()
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    desk = staff_desk(ctx, totp)
    assert desk.inbox() == []  # no half message
    with ctx.repo.transaction() as tx:
        assert tx.count_pending_outbox() == 0  # no confirmation for a message that isn't

    # The guest tries again: it works, and the leftovers of the killed send are swept
    # once they are older than any send could take, and never what a message uses.
    Starter(ctx).send(
        VerifiedGuest("Karin", "karin@example.nl"),
        Draft("Uitslag", "Tekst", (ctx.attachment(scan),)),
    )
    assert ctx.sweep_orphan_blobs() == 0  # too young: a send in progress looks the same
    clock.advance(hours=25)
    assert ctx.sweep_orphan_blobs() == len(left)
    assert not any(p.name.startswith(".") for p in (home / "blobs").glob("??/*"))
    [row] = staff_desk(ctx, totp).inbox()
    clock.advance(seconds=30)
    [(opened, key)] = staff_desk(ctx, totp).thread(row.conversation.id).messages
    out = tmp_path / "out"
    out.mkdir()
    saved = staff_desk_save(ctx, totp, clock, opened, key, out)
    assert saved.read_bytes() == scan.read_bytes()
    assert set(blobs.ids()) == {item.blob_id for item in opened.message.items}


def staff_desk_save(ctx, totp, clock, opened, key, out: Path) -> Path:
    clock.advance(seconds=30)
    return staff_desk(ctx, totp).save_attachment(opened, key, 0, out)


class HoldingMailbag:
    """An SMTP server's handler that takes the first mail and then holds its answer:
    the sender is in the middle of delivering when the test kills it."""

    def __init__(self) -> None:
        self.received: list = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        import email

        self.received.append(email.message_from_bytes(envelope.content))
        if len(self.received) == 1:
            self.first_arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return "250 OK"


def test_kill_9_in_the_middle_of_delivery_resumes_without_a_second_identity(
    home: Path, policy: Policy
) -> None:
    from aiosmtpd.controller import Controller

    bag = HoldingMailbag()
    port = free_port()
    controller = Controller(bag, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = make_settings(home, f"smtp://127.0.0.1:{port}")
        ctx = make_context(settings, policy=policy)
        with ctx.repo.transaction() as tx:
            for n in range(3):
                ctx.outbox.enqueue_email(
                    tx,
                    confirmation_email(
                        org="DeclaCare",
                        sender="desk@declacare.nl",
                        to=f"guest{n}@example.nl",
                        name=f"Guest {n}",
                        received_at=ctx.clock(),
                        attachments=0,
                    ),
                )
        env = {**os.environ, "VEILIG_HOME": str(home), "VEILIG_SMTP_URL": settings.smtp_url}
        deliverer = subprocess.Popen([sys.executable, "-m", "tui.cli", "outbox"], cwd=ROOT, env=env)
        assert bag.first_arrived.wait(timeout=30)  # the server has it; the sender waits
        deliverer.send_signal(signal.SIGKILL)
        deliverer.wait()
        bag.release.set()

        # After the lease, a new process delivers what is left, the first one again.
        later = FrozenClock(ctx.clock() + timedelta(minutes=3))
        report = asyncio.run(
            make_context(settings, policy=policy, clock=later).outbox.deliver_due()
        )
        assert (report.sent, report.failed, report.pending) == (3, 0, 0)
    finally:
        bag.release.set()
        controller.stop()

    # Every mail arrived; what was in flight when the process died came again, under
    # the same Message-ID (at most one wave of them), so receivers drop the copies.
    ids = [m["Message-ID"] for m in bag.received]
    assert len(set(ids)) == 3 and 4 <= len(ids) <= 3 + policy.delivery_concurrency
    for message_id in set(ids):
        assert len({m["To"] for m in bag.received if m["Message-ID"] == message_id}) == 1
    # Delivering again sends nothing.
    assert asyncio.run(ctx.outbox.deliver_due()).sent == 0


def test_a_long_smtp_outage_backs_off_shows_its_state_and_delivers_later(
    home: Path, policy: Policy, smtp_down: SmtpServer
) -> None:
    clock = FrozenClock()
    settings = make_settings(home, smtp_down.url)
    ctx = make_context(settings, policy=policy, clock=clock)
    Starter(ctx).send(VerifiedGuest("Karin", "karin@example.nl"), Draft("s", "b", ()))

    waits = []
    for _ in range(12):  # a night of failures
        with ctx.repo.transaction() as tx:
            [item, *_rest] = tx.due_outbox(clock() + timedelta(days=1), 10)
        clock.now = item.next_attempt_at
        report = asyncio.run(ctx.outbox.deliver_due())
        assert report.sent == 0 and report.failed >= 1 and report.pending == 2
        with ctx.repo.transaction() as tx:
            waits.append(tx.outbox_item(item.id).next_attempt_at - clock())
    assert waits[-1] > 20 * waits[0]  # backing off, not hammering
    assert max(waits) <= policy.delivery_max_backoff * 1.2  # but never gone for hours

    # The state is visible to an operator: the real CLI says what is pending and why.
    env = {**os.environ, "VEILIG_HOME": str(home), "VEILIG_SMTP_URL": smtp_down.url}
    env["VEILIG_LANG"] = "en"
    shown = cli_runner.veilig("outbox", cwd=ROOT, env=env, timeout=60)
    assert "waiting: 2" in shown.stdout and shown.returncode == 1
    assert "12 attempts, last error SMTPConnectError, next try" in shown.stdout

    smtp_down.start()
    clock.advance(hours=1)
    assert asyncio.run(ctx.outbox.deliver_due()).sent == 2
    assert sorted(m["To"] for m in smtp_down.bag.all) == ["info@declacare.nl", "karin@example.nl"]


WRITER = """
import sys
from pathlib import Path
from core.policy import DEFAULT_POLICY
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from tests.conftest import make_settings
from tui.factory import make_context

ctx = make_context(make_settings(Path(sys.argv[1])), policy=DEFAULT_POLICY.with_cheap_kdf())
starter = Starter(ctx)
for n in range(15):
    pending = starter.request_code("Karin", f"writer{sys.argv[2]}-{n}@example.nl")
    starter.send(VerifiedGuest(pending.name, pending.email), Draft(f"s{n}", "b", ()))
print("done", flush=True)
"""


def test_two_processes_writing_one_database_both_succeed(
    home: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    writers = [
        python("-c", WRITER, str(home), str(n), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n in range(2)
    ]
    results = [w.communicate(timeout=120) for w in writers]
    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err  # no "database is locked" reached anyone
        assert out.strip() == "done" and "Traceback" not in err
    ctx = make_context(make_settings(home), policy=policy)
    assert len(staff_desk(ctx, totp).inbox(limit=100)) == 30
