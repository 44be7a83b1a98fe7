"""Retention and purge (issue 18): a conversation past its time is gone from the
database, its write-ahead log and the blob store; a held one stays; the chain holds.

The conversations are written 200 days in the past (a frozen clock), then the real
``veilig purge`` runs now, in its own process, as the outbox worker or an operator would.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from core.attachments import Attachment
from core.audit import Action, pseudonym
from core.clock import FrozenClock, utc_now
from core.contact import Contact
from core.desk import Desk
from core.models import Method
from core.policy import Policy
from core.recipient import Recipient
from core.retention import Retention
from core.sealing import Draft
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    deliver,
    make_settings,
    reference_in,
    sms_code,
)
from tests.evidence_helpers import guest_writes
from tests.test_cli import veilig
from tui.factory import make_context

GONE_GUEST = ("Anna de Vries", "anna@vries-fysio.nl", "Verwijzing Anna", "Beste, zie de brief.")
KEPT_GUEST = ("Bram Kok", "bram@kokpraktijk.nl", "Klacht Bram", "Ik wil een klacht indienen.")
PRACTITIONER = ("Fysio Jansen", "praktijk@fysio-jansen.nl", "06 12345127")
OUT = ("Uitslag Jansen", "De uitslag staat in de bijlage.")
REPLY = ("Re: Uitslag", "Dank, goed ontvangen en gelezen.")
HOLD_REASON = "klacht ingediend op 12 maart, dossier K-2291"


def _rows(db: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(query, params).fetchall()


def keys_and_ids_of(db: Path, conversation_id: str) -> list[bytes]:
    """Every wrapped key, sealed record, tag and blob id of one conversation, as stored."""
    found: list[bytes] = []
    for query in (
        "SELECT wrapped_key, origin_mac FROM message WHERE conversation_id = ?",
        "SELECT contact_sealed, thread_key_wrapped FROM participant WHERE conversation_id = ?",
        "SELECT k.wrapped FROM participant_key k JOIN message m ON m.id = k.message_id "
        "WHERE m.conversation_id = ?",
        "SELECT i.thread_key_wrap, i.share_sealed, i.reference_tag FROM invitation i "
        "JOIN participant p ON p.id = i.participant_id WHERE p.conversation_id = ?",
        "SELECT reason_sealed FROM hold WHERE conversation_id = ?",
        "SELECT i.blob_id FROM message_item i JOIN message m ON m.id = i.message_id "
        "WHERE m.conversation_id = ?",
    ):
        for row in _rows(db, query, conversation_id):
            for value in row:
                raw = value if isinstance(value, bytes) else str(value).encode()
                if len(raw) >= 16:
                    found.append(raw)
    return found


def blob_files(home: Path, db: Path, conversation_id: str) -> list[Path]:
    ids = _rows(
        db,
        "SELECT i.blob_id FROM message_item i JOIN message m ON m.id = i.message_id "
        "WHERE m.conversation_id = ?",
        conversation_id,
    )
    return [home / "blobs" / blob_id[:2] / blob_id for (blob_id,) in ids]


SCAN = """
import json, sys
from pathlib import Path
home, needles = Path(sys.argv[1]), [bytes.fromhex(n) for n in json.load(sys.stdin)]
found = []
for path in sorted(home.rglob("*")):
    if path.is_file() and path.suffix != ".log":
        data = path.read_bytes()
        found += [f"{path.relative_to(home)}: {n[:12]!r}" for n in needles if n in data]
print(json.dumps(found))
"""


def needles_found(home: Path, needles: list[bytes]) -> list[str]:
    """Where any of ``needles`` lies in the database, its WAL and shared memory, the
    blobs or the audit head. Read by another process, as a backup tool would: a process
    that opens and closes the database file itself drops SQLite's locks on it (POSIX
    advisory locks belong to the process), and another process could then delete the
    WAL under this one's connections."""
    import json
    import subprocess
    import sys

    scan = subprocess.run(
        [sys.executable, "-c", SCAN, str(home)],
        input=json.dumps([n.hex() for n in needles]),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(scan.stdout)


def texts(*values: str) -> list[bytes]:
    needles = []
    for value in values:
        needles += [value.encode("utf-8"), value.encode("utf-16-le")]
    return needles


def test_a_purge_destroys_a_conversation_past_retention_everywhere_and_keeps_a_held_one(
    tmp_path: Path,
    home: Path,
    policy: Policy,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    totp: pyotp.TOTP,
) -> None:
    past = FrozenClock(utc_now() - timedelta(days=200))
    settings = make_settings(home, smtp_server.url, sms_gateway.url)
    ctx = make_context(settings, policy=policy, clock=past)
    files = {}
    for name in ("brief-anna.pdf", "klacht-bram.pdf", "uitslag-jansen.pdf"):
        files[name] = tmp_path / name
        files[name].write_bytes(name.encode() + b" " + os.urandom(150_000))

    # Two guests write (flow 1); staff write to a practitioner, who opens and replies.
    guest_writes(ctx, smtp_server, *GONE_GUEST, [files["brief-anna.pdf"]])
    guest_writes(ctx, smtp_server, *KEPT_GUEST, [files["klacht-bram.pdf"]])
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(past.now))
    name, address, mobile = PRACTITIONER
    attachment = (Attachment.from_path(files["uitslag-jansen.pdf"], policy),)
    desk.send_new(Contact(address, mobile, name), Method.SMS, Draft(*OUT, attachment))
    deliver(ctx)
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference_in(smtp_server.bag.next_to(address))))
    deliver(ctx)
    thread = recipient.verify(sent, sms_code(sms_gateway.next()))
    recipient.reply(thread, Draft(*REPLY))
    deliver(ctx)

    by_who = {row.email: row.conversation.id for row in desk.inbox()}
    gone = [by_who[GONE_GUEST[1]], by_who[address]]
    kept = by_who[KEPT_GUEST[1]]
    desk.hold(kept, HOLD_REASON)
    db = home / "veilig.db"

    # What must not survive: their wrapped keys, sealed records, blob ids, ciphertext.
    gone_needles = [n for c in gone for n in keys_and_ids_of(db, c)]
    gone_blobs = [p for c in gone for p in blob_files(home, db, c)]
    assert len(gone_blobs) == 2 * 3 + 2 and all(p.exists() for p in gone_blobs)
    gone_needles += [p.read_bytes()[5000:5064] for p in gone_blobs if p.stat().st_size > 6000]
    kept_needles = keys_and_ids_of(db, kept)
    kept_blobs = blob_files(home, db, kept)
    # The scan sees what is there (else it would pass by finding nothing).
    assert needles_found(home, gone_needles) and needles_found(home, kept_needles)
    plaintext = texts(*GONE_GUEST, *KEPT_GUEST, *PRACTITIONER[:2], *OUT, *REPLY, HOLD_REASON)
    plaintext += [f.read_bytes()[70_000:70_064] for f in files.values()] + list(
        map(str.encode, files)
    )

    # An office admin looks first (the real command, now)...
    dry = veilig(home, "purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert all(c in dry.stdout for c in gone) and "Kept, on hold:" in dry.stdout
    assert "1 message, 1 attachment\n" in dry.stdout  # Anna's; the practitioner's:
    assert "2 messages, 1 attachment\n" in dry.stdout  # the message and the reply
    assert _rows(db, "SELECT count(*) FROM conversation") == [(3,)]  # a dry run changes nothing

    # ... and the outbox worker purges, as `veilig outbox --watch` does once a day: a
    # process that keeps the database open (the last one to close would checkpoint the
    # write-ahead log itself, and hide whether the purge does).
    now_ctx = make_context(settings, policy=policy)
    staff = Desk.login(now_ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.now())  # the desk is open
    report = Retention(now_ctx).run_if_due()
    assert report is not None and report.files_clean
    assert sorted(c.conversation.id for c in report.purged) == sorted(gone)
    assert [c.conversation.id for c in report.held] == [kept]
    wal = home / "veilig.db-wal"

    # Gone: the rows, the blobs, every copy in the database's files (WAL included).
    for conversation_id in gone:
        for table, column in (("conversation", "id"), ("message", "conversation_id")):
            query = f"SELECT count(*) FROM {table} WHERE {column} = ?"
            assert _rows(db, query, conversation_id) == [(0,)]
    for table in ("participant", "invitation", "participant_key"):
        assert _rows(db, f"SELECT count(*) FROM {table}") == [(0,)], table
    assert not any(p.exists() for p in gone_blobs)
    assert wal.exists()  # still in use: checkpointed, truncated, and only written since
    assert needles_found(home, gone_needles) == []
    assert needles_found(home, plaintext) == []  # never in the clear, held one included

    # The held one stays, whole, and opens.
    assert all(p.exists() for p in kept_blobs)
    assert len(needles_found(home, kept_needles)) >= len(kept_needles)
    [(opened, _key)] = staff.thread(kept).messages
    assert (opened.subject, opened.body) == KEPT_GUEST[2:]
    assert staff.hold_of(kept)[1] == HOLD_REASON

    # The operator's own run finds nothing more; the held one stays.
    again = veilig(home, "purge")
    assert again.returncode == 0 and "Nothing is past its retention period" in again.stdout
    assert "Kept, on hold:" in again.stdout

    # The audit log is intact, says what went, and names no content.
    verified = veilig(home, "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout
    with now_ctx.repo.transaction() as tx:
        entries = list(tx.audit_entries())
    purges = [e for e in entries if e.action == Action.PURGED]
    assert sorted(e.conversation_id or "" for e in purges) == sorted(gone)
    assert {e.subject for e in purges} == {
        pseudonym(now_ctx.secret, GONE_GUEST[1]),
        pseudonym(now_ctx.secret, address),
    }
    runs = [e.actor for e in entries if e.action == Action.PURGE_RUN]
    assert runs[0] == "purge" and runs[-1].startswith("operator:")
    log = "\n".join(f"{e.actor} {e.detail} {e.subject} {e.client}" for e in entries)
    for value in (*GONE_GUEST, *KEPT_GUEST, *PRACTITIONER, *OUT, HOLD_REASON):
        assert value not in log


def test_the_outbox_worker_purges_once_a_day_and_signs_the_head(
    wired_ctx, clock: FrozenClock
) -> None:
    from core.signing import SigningKey

    retention = Retention(wired_ctx)
    first = retention.run_if_due()
    assert first is not None and first.purged == []
    assert retention.run_if_due() is None  # not again the same day
    clock.advance(hours=1)
    retention.purge("operator:root")  # an operator's own purge counts as the day's
    clock.advance(hours=23)

    def count(action: Action) -> int:
        with wired_ctx.repo.transaction() as tx:
            return sum(1 for e in tx.audit_entries() if e.action == action)

    # Purged 23 hours ago: no purge; but the head was signed 24 hours ago, and an
    # operator's purge must not cost the day its signed head.
    assert retention.run_if_due() is None
    assert (count(Action.PURGE_RUN), count(Action.AUDIT_HEAD_SIGNED)) == (2, 2)
    clock.advance(hours=2)
    assert retention.run_if_due() is not None  # the purge is due; the head is not
    assert (count(Action.PURGE_RUN), count(Action.AUDIT_HEAD_SIGNED)) == (3, 2)
    with wired_ctx.repo.transaction() as tx:
        entries = list(tx.audit_entries())
        assert wired_ctx.audit.verify(tx) == []
    heads = [e for e in entries if e.action == Action.AUDIT_HEAD_SIGNED]
    # Each names the entry before it; its signature checks with the public key alone.
    import base64
    import re

    from core.retention import head_statement

    public = SigningKey.of(wired_ctx.secret).public_key()
    for head in heads:
        seq, mac, at, signature = re.fullmatch(
            r"entry (\d+) mac (\w+) at (\S+) signature (\S+)", head.detail
        ).groups()
        assert int(seq) == head.seq - 1
        assert mac == next(e.mac.hex() for e in entries if e.seq == int(seq))
        statement = head_statement(
            "DeclaCare", int(seq), bytes.fromhex(mac), datetime.fromisoformat(at)
        )
        assert public.verify(base64.b64decode(signature), statement)


def test_retention_is_the_offices_own_within_bounds(wired_ctx) -> None:
    from core.errors import InvalidInput

    retention = Retention(wired_ctx)
    assert retention.current_period() == (timedelta(days=90), True)
    for days in (29, 20 * 365 + 1):
        with pytest.raises(InvalidInput):
            retention.set_period("staff:desk@declacare.nl", days)
    retention.set_period("staff:desk@declacare.nl", 180)
    assert retention.current_period() == (timedelta(days=180), False)
    with wired_ctx.repo.transaction() as tx:
        [entry] = [e for e in tx.audit_entries() if e.action == Action.RETENTION_SET]
    assert entry.detail == "default -> 180 days"
