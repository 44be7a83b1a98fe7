"""A team on one home: invitations read from the Maildir as the newcomer would, enrolment
through the core or the real ``veilig staff`` commands, authenticator apps on the real
clock, and the raw bytes of the database for scans."""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import email.message
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyotp

from core.enrolment import Invited, enrol, open_invitation
from core.models import StaffMember
from core.staff import Admin, authorise
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, body_of, maildir_of

INVITATION_CODE = re.compile(r"^\s+([A-Z2-7]{4}(?:-[A-Z2-7]{4}){7})\s*$", re.MULTILINE)
HANDOVER_CODE = re.compile(r"^    ((?:[A-Z2-7]{4}-){4}[A-Z2-7])$", re.MULTILINE)
ROOT = Path(__file__).resolve().parent.parent


def invitation_code(ctx, home: Path, to: str) -> str:
    """Deliver the outbox and read the newest invitation code sent to ``to``."""
    # In a thread of its own: also from a test that runs an event loop (Pilot).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, ctx.outbox.deliver_due()).result()
    codes = [INVITATION_CODE.search(body_of(m)) for m in mails_to(home, to)]
    found = [c.group(1) for c in codes if c]
    assert found, f"no invitation for {to}"
    return found[-1]


def mails_to(home: Path, to: str) -> list[email.message.Message]:
    """The mails delivered to ``to`` in the embedded Maildir, oldest first (by when their
    file was written: two mails of one second have the same Date header)."""
    folder = maildir_of(home)
    files = [
        p for sub in ("new", "cur") if (folder / sub).is_dir() for p in (folder / sub).iterdir()
    ]
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    mails = [email.message_from_bytes(p.read_bytes()) for p in files]
    return [m for m in mails if m["To"] == to]


def enrol_as(
    ctx, home: Path, invited: Invited, password: str, code: str | None = None
) -> tuple[StaffMember, pyotp.TOTP]:
    """The newcomer: both codes, a password, the app set up from the URI, a code from it."""
    opened = open_invitation(
        ctx, code or invitation_code(ctx, home, invited.email), invited.handover_code
    )
    app = pyotp.parse_uri(opened.totp_uri)
    member = enrol(ctx, opened, password, app.at(ctx.clock()))
    return member, app


def as_admin(
    ctx, clock, totp: pyotp.TOTP, email: str = STAFF_EMAIL, password: str = STAFF_PASSWORD
) -> Admin:
    clock.advance(seconds=30)  # a fresh TOTP step: each code works once
    return authorise(ctx, email, password, totp.at(clock.now))


def wraps_of(ctx, email: str) -> StaffMember:
    """``email``'s row as it is now: their key wraps and sealed TOTP secret, all present."""
    with ctx.repo.transaction() as tx:
        row = tx.staff_by_email(email)
    assert row is not None and row.key_wrap and row.mailbox_wrap and row.totp_sealed
    return row


def assert_wraps_gone(home: Path, before: StaffMember, *, totp_too: bool = True) -> None:
    """Not in any row, and not in the database's files either (freed pages, the log)."""
    raw = database_bytes(home)
    for secret in (before.key_wrap, before.mailbox_wrap) + (
        (before.totp_sealed,) if totp_too else ()
    ):
        assert secret not in raw


def database_bytes(home: Path) -> bytes:
    """Everything SQLite keeps of the database on disk: the file and its write-ahead log."""
    found = b""
    for name in ("veilig.db", "veilig.db-wal", "veilig.db-journal"):
        path = home / name
        if path.exists():
            found += path.read_bytes()
    return found


PRACTITIONER = "praktijk@fysio-jansen.nl"


def _deliver(ctx) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, ctx.outbox.deliver_due()).result()


def newest_reference(ctx, home: Path, to: str) -> str:
    from tests.conftest import reference_in

    _deliver(ctx)
    notices = [m for m in mails_to(home, to) if "veilig open" in body_of(m)]
    return reference_in(notices[-1])


def newest_sms_code(home: Path) -> str:
    import json

    from tests.conftest import sms_code

    line = (home / "sms.log").read_text("utf-8").splitlines()[-1]
    return sms_code(json.loads(line))


def make_history(ctx, home: Path, desk) -> tuple[str, list[str]]:
    """Every kind of message an office has: two guests' (flow 1), a secure message to a
    practitioner (flow 2) and their reply (flow 3), staff's reply to a guest. Returns
    the practitioner's reference and every body, sorted."""
    from core.contact import Contact
    from core.models import Method
    from core.recipient import Recipient
    from core.sealing import Draft
    from core.starter import Starter, VerifiedGuest

    starter = Starter(ctx)
    starter.send(
        VerifiedGuest("Karin Janssen", "karin@example.nl"),
        Draft("Vraag", "Is mijn declaratie binnen?"),
    )
    starter.send(VerifiedGuest("Piet de Boer", "piet@example.nl"), Draft("Adres", "Nieuw adres."))
    desk.send_new(
        Contact(PRACTITIONER, "06 12345127", "Fysio Jansen"),
        Method.SMS,
        Draft("Uitslag", "Zie bijlage."),
    )
    reference = newest_reference(ctx, home, PRACTITIONER)
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference))
    _deliver(ctx)
    thread = recipient.verify(sent, newest_sms_code(home))
    recipient.reply(thread, Draft("Re: Uitslag", "Dank, ontvangen."))
    karin = next(r for r in desk.inbox() if r.email == "karin@example.nl")
    desk.reply(karin.conversation.id, Draft("Re: Vraag", "Ja, verwerkt."))
    _deliver(ctx)
    bodies = [
        "Is mijn declaratie binnen?",
        "Nieuw adres.",
        "Zie bijlage.",
        "Dank, ontvangen.",
        "Ja, verwerkt.",
    ]
    return reference, sorted(bodies)


def all_bodies(desk) -> list[str]:
    """Every message of every conversation, opened by this desk; none may be damaged."""
    bodies = []
    for row in desk.inbox(limit=1000):
        view = desk.thread(row.conversation.id)
        assert view.damaged == [], "a message does not open"
        bodies += [opened.body for opened, _key in view.messages]
    return sorted(bodies)


class Authenticator(pyotp.TOTP):
    """Someone's authenticator app on the real clock, for the real commands and desks.

    The home takes each TOTP step once per account and +-1 step of drift (core.policy),
    so ``code()`` gives the step now, else the next one (a phone a little ahead), else it
    waits for the clock to reach a step after the last one used: a code that a replay
    check alone would refuse proves nothing about what removal or reset took away."""

    last_step: int | None = None

    @classmethod
    def from_uri(cls, uri: str) -> Authenticator:
        app = pyotp.parse_uri(uri)
        assert isinstance(app, pyotp.TOTP)
        return cls(app.secret, digits=app.digits, interval=app.interval)

    def code(self) -> str:
        while True:
            now = int(time.time()) // self.interval
            step = now if self.last_step is None or now > self.last_step else now + 1
            if self.last_step is None or step > self.last_step:
                self.last_step = step
                return self.generate_otp(step)
            # Both steps used: the clock, not any work, decides when the next code comes.
            time.sleep((now + 1) * self.interval - time.time() + 0.05)


def cli_env(home: Path, **more: str) -> dict[str, str]:
    """The environment of a ``veilig`` command on ``home``: the contract's variables only."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    return {**clean, **more, "VEILIG_HOME": str(home)}


def veilig(
    home: Path, *args: str, answers: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command (as tests/test_cli.py runs it), each answer a line of stdin."""
    from tests.test_cli import veilig as run_veilig

    return run_veilig(home, *args, stdin="".join(a + "\n" for a in answers), env=env)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def handover_in(output: str) -> str:
    """The hand-over code ``staff add``/``reset``/``recover`` prints for the admin."""
    match = HANDOVER_CODE.search(output)
    assert match, output
    return match.group(1)


def enrol_by_command(
    home: Path, code: str, handover: str, password: str, env: dict[str, str] | None = None
) -> Authenticator:
    """``veilig staff enrol`` as the newcomer answers it: the code from their e-mail, the
    hand-over code, a password; then a code from the app they set up from the QR."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "staff", "enrol"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(home, **(env or {})),
        cwd=ROOT,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"{code}\n{handover}\n{password}\n")
    process.stdin.flush()
    app = None
    for line in process.stdout:
        if line.startswith("otpauth://"):
            app = Authenticator.from_uri(line.strip())
            process.stdin.write(app.code() + "\n")
            process.stdin.flush()
    assert process.wait(timeout=120) == 0, process.stderr.read()  # type: ignore[union-attr]
    assert app is not None
    return app
