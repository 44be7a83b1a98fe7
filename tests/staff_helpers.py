"""A team on one home: invitations read from the Maildir as the newcomer would, enrolment
through the core, and the raw bytes of the database for scans."""

from __future__ import annotations

import asyncio
import concurrent.futures
import mailbox
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
    box = mailbox.Maildir(maildir_of(home), create=False)
    mails = sorted(
        (m for m in box if m["To"] == to and "invitation" in (m["Subject"] or "")),
        key=lambda m: (m["Date"] or "", body_of(m)),
    )
    codes = [INVITATION_CODE.search(body_of(m)) for m in mails]
    found = [c.group(1) for c in codes if c]
    assert found, f"no invitation for {to}"
    return found[-1]


def all_invitation_codes(home: Path, to: str) -> list[str]:
    box = mailbox.Maildir(maildir_of(home), create=False)
    return [
        c.group(1) for m in box if m["To"] == to for c in [INVITATION_CODE.search(body_of(m))] if c
    ]


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
