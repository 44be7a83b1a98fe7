"""A team on one home: invitations read from the Maildir as the newcomer would, enrolment
through the core, and the raw bytes of the database for scans."""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import email.message
import re
from pathlib import Path

import pyotp

from core.enrolment import Invited, enrol, open_invitation
from core.models import StaffMember
from core.staff import Admin, authorise
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, body_of, maildir_of

INVITATION_CODE = re.compile(r"^\s+([A-Z2-7]{4}(?:-[A-Z2-7]{4}){7})\s*$", re.MULTILINE)


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
