"""The audit log: who did what, when, to which conversation — tamper-evident.

Each entry carries a MAC over its own fields and the MAC of the entry before, keyed
with the server secret (not in the database). Editing an entry breaks its MAC;
deleting one breaks the chain after it and leaves a gap in the sequence; deleting the
newest entries is caught by a head file beside the database (``audit.head``), which
records the newest sequence number and MAC. A new entry continues from the head when
the database is behind it, so the gap stays visible however much is appended after;
and a missing head file is itself a problem. The head is replaced atomically (a new
file, fsynced, renamed) under a lock file. Entries name no content: no subjects, no
codes, no addresses of guests.

Who holds ``server.key`` and the host's files can rewrite the whole chain and its head:
the head is anchored outside the host only when someone copies it elsewhere
(``veilig audit verify`` prints it; docs/SECURITY.md). The organisation's signing key
signs the head every day and in every export (core.signing, core.audit_export): a
signed head that has left the host is a fixed point a rewrite cannot move.

Each entry has the fields NEN 7513 asks for (who, which client or host, what, about
whom, when, outcome). *About whom* is a pseudonym: a keyed tag of the person's
address (:func:`pseudonym`), the same in every entry about them, which the office can
compute from an address it is asked about and an auditor cannot turn back into one.
Entries of version 1 (before issue 18) keep their MAC over the fields they had.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from core import labels
from core.clock import Clock
from core.i18n import _
from core.models import AuditEntry
from core.ports import AuditRecords
from core.server_secret import ServerSecret


class Action(StrEnum):
    LOGIN_OK = "login.ok"
    LOGIN_FAILED = "login.failed"
    CODE_SENT = "code.sent"
    CODE_VERIFIED = "code.verified"
    CODE_FAILED = "code.failed"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    OPENED = "opened"
    ATTACHMENT_SAVED = "attachment.saved"
    REPLY = "reply"
    REVOKE = "revoke"
    NOTIFICATION_DELIVERED = "notification.delivered"
    NOTIFICATION_FAILED = "notification.failed"
    # `veilig serve ssh`: a staff key named its account (detail: its SHA256 fingerprint),
    # or a registered key was refused because its account is gone.
    SSH_KEY_ACCEPTED = "ssh.key.accepted"
    SSH_KEY_REFUSED = "ssh.key.refused"
    RECIPIENT_LOCKED = "recipient.locked"
    RECIPIENT_UNLOCKED = "recipient.unlocked"
    STAFF_LOCKED = "staff.locked"
    STAFF_UNLOCKED = "staff.unlocked"
    MAILBOX_KEY_MISMATCH = "mailbox.key-mismatch"
    # Issue 18: the events NEN 7513 asks for that were missing.
    STAFF_LOGOUT = "staff.logout"  # the desk closed or locked after idling
    STAFF_KEY_ADDED = "staff.key-added"  # `veilig staff add-key`
    STAFF_KEY_REMOVED = "staff.key-removed"  # `veilig staff keys --remove`
    SEARCH = "search"  # a look-up of a person (the desk's search, `audit show --person`)
    AUDIT_VIEWED = "audit.viewed"  # NEN 7513 §8.4: access to the log is logged too
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_HEAD_SIGNED = "audit.head-signed"  # detail: seq, MAC and the signature
    PROOF_ISSUED = "proof.issued"
    SUBJECT_EXPORTED = "subject.exported"  # a data-subject export (GDPR art. 15)
    RETENTION_SET = "retention.set"
    HOLD_PLACED = "hold.placed"
    HOLD_LIFTED = "hold.lifted"
    PURGED = "purged"  # one conversation's content destroyed (core.retention)
    PURGE_RUN = "purge.run"  # a run of the purge, also when nothing was due

    # `veilig init`: the organisation set up, by the operator at the shell; detail names the
    # first admin ("staff:EMAIL") and the signing key's fingerprint it starts with.
    ORGANISATION_CREATED = "organisation.created"
    # Staff lifecycle (issue 14): detail names the staff member ("staff:EMAIL") it was done to.
    STAFF_INVITED = "staff.invited"
    STAFF_ENROLLED = "staff.enrolled"
    STAFF_ENROL_FAILED = "staff.enrol-failed"
    STAFF_INVITATION_DESTROYED = "staff.invitation-destroyed"
    STAFF_REMOVED = "staff.removed"
    STAFF_RESET = "staff.reset"
    STAFF_PASSWORD_CHANGED = "staff.password-changed"  # noqa: S105 - an action, not a password
    STAFF_NOT_ADMIN = "staff.not-admin"
    MAILBOX_RECOVERED = "mailbox.recovered"
    MAILBOX_RECOVERY_FAILED = "mailbox.recovery-failed"
    MAILBOX_ROTATION_STARTED = "mailbox.rotation-started"
    MAILBOX_ROTATED = "mailbox.rotated"
    # The team desk (issue 14): who handles a conversation, and whether it is done.
    TAKEN = "conversation.taken"
    CLOSED = "conversation.closed"
    REOPENED = "conversation.reopened"


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"


FAILURES = frozenset(
    {
        Action.LOGIN_FAILED,
        Action.CODE_FAILED,
        Action.NOTIFICATION_FAILED,
        Action.MAILBOX_KEY_MISMATCH,
        Action.STAFF_ENROL_FAILED,
        Action.STAFF_NOT_ADMIN,
        Action.MAILBOX_RECOVERY_FAILED,
    }
)


def pseudonym(secret: ServerSecret, address: str) -> str:
    """The person behind an e-mail address, as the audit log names them: a keyed tag
    (64 bits shown), stable for the address, meaningless without ``server.key``."""
    return "p-" + secret.tag(labels.PSEUDONYM, address.strip().casefold()).hex()[:16]


GENESIS = bytes(32)


@dataclass(frozen=True)
class Head:
    """The newest entry as the head file beside the database records it."""

    seq: int
    mac: bytes


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str

    def __str__(self) -> str:
        return _("entry {seq}: {what}").format(seq=self.seq, what=self.what)


class _Pending(NamedTuple):
    """An entry noted in a transaction, chained as it commits (AuditLog.append)."""

    at: datetime
    actor: str
    action: Action
    conversation_id: str | None
    detail: str
    subject: str
    outcome: Outcome


class AuditLog:
    def __init__(
        self, secret: ServerSecret, clock: Clock, head_file: Path | None, client: str = ""
    ) -> None:
        self.secret = secret
        self.clock = clock
        self.head_file = head_file
        self.client = client  # which client or host this process acts for

    def _mac(self, previous: bytes, entry: AuditEntry) -> bytes:
        fields = (
            previous.hex(),
            str(entry.seq),
            # In UTC whatever the store hands back (PostgreSQL answers in its session's
            # time zone): the same instant is the same text. Unchanged for UTC values.
            entry.at.astimezone(UTC).isoformat(),
            entry.actor,
            entry.action,
            entry.conversation_id or "",
            entry.detail,
        )
        if entry.version == 1:
            return self.secret.tag(labels.AUDIT, *fields)
        return self.secret.tag(labels.AUDIT_V2, *fields, entry.subject, entry.client, entry.outcome)

    def append(
        self,
        tx: AuditRecords,
        actor: str,
        action: Action,
        conversation_id: str | None = None,
        detail: str = "",
        *,
        subject: str | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        """Note ``action`` by ``actor`` in the chain, as the last write of the transaction
        ``tx``: the entry is numbered, chained and added just before ``tx`` commits, after
        whatever else ``tx`` does (several appends keep their order). ``subject`` is whom
        it is about (a pseudonym); by default, the person of ``conversation_id``.
        ``outcome`` follows the action unless given.

        Numbering reads the newest entry and adds one, so appends take turns (the
        chain's lock; SQLite's write lock anyway). Taken at the very end, it is held
        only while the transaction commits, and never while waiting for another lock:
        no transaction can hold a row this one needs and wait for the chain."""
        whom = subject
        if whom is None:
            whom = tx.conversation_subject(conversation_id) if conversation_id else ""
        result = outcome
        if result is None:
            result = Outcome.FAILED if action in FAILURES else Outcome.OK
        at = self.clock()
        entry = _Pending(at, actor, action, conversation_id, detail, whom, result)
        tx.before_commit(lambda: self._chain(tx, entry))

    def _chain(self, tx: AuditRecords, pending: _Pending) -> None:
        at, actor, action, conversation_id, detail, subject, outcome = pending
        tx.lock_for_audit()
        last = tx.audit_tail()
        seq, previous = (last.seq, last.mac) if last else (0, GENESIS)
        head = self._read_head()
        if isinstance(head, Head) and (
            head.seq > seq or (head.seq == seq and not hmac.compare_digest(head.mac, previous))
        ):
            # The database lost its newest entries (or they were replaced) since the head
            # was written. Chaining from the database's last row would carry the chain
            # past the gap and hide it; continuing from the head keeps it in sight: the
            # sequence jumps and this entry's MAC does not follow the row before it.
            seq, previous = head.seq, head.mac
        entry = AuditEntry(
            seq=seq + 1,
            at=at,
            actor=actor,
            action=action,
            conversation_id=conversation_id,
            detail=detail,
            mac=b"",
            subject=subject,
            client=self.client,
            outcome=outcome.value,
            version=2,
        )
        entry.mac = self._mac(previous, entry)
        tx.add(entry)
        tx.after_commit(lambda: self._advance_head(entry))

    def _read_head(self) -> Head | str | None:
        """The head as written, None when there is no head file, or why it is unreadable."""
        if self.head_file is None:
            return None
        try:
            raw = json.loads(self.head_file.read_text("utf-8"))
            return Head(int(raw["seq"]), bytes.fromhex(raw["mac"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return _("the head file is unreadable")

    def _advance_head(self, entry: AuditEntry) -> None:
        """Move the head to ``entry`` if it is newer: a new file, fsynced, renamed over the
        old one (and the folder fsynced), under a lock, so that a crash or a full disk
        leaves the old head or the new one, never half of one."""
        if self.head_file is None:
            return
        folder = self.head_file.parent
        lock = os.open(folder / (self.head_file.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # several processes append: never move it back
            current = self._read_head()
            if isinstance(current, Head) and current.seq >= entry.seq:
                return
            tmp = folder / f".{self.head_file.name}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps({"seq": entry.seq, "mac": entry.mac.hex()}))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.head_file)
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        finally:
            os.close(lock)  # and with it the lock

    def head(self) -> Head | None:
        """The head, to be copied somewhere the host cannot reach (docs/SECURITY.md)."""
        head = self._read_head()
        return head if isinstance(head, Head) else None

    def verify(self, tx: AuditRecords) -> list[Problem]:
        """Every problem in the chain; an empty list means intact."""
        problems: list[Problem] = []
        previous, expected_seq = GENESIS, 1
        last: AuditEntry | None = None
        for entry in tx.audit_entries():
            if entry.seq != expected_seq:
                problems.append(
                    Problem(expected_seq, _("missing (next is {seq})").format(seq=entry.seq))
                )
            if not hmac.compare_digest(self._mac(previous, entry), entry.mac):
                problems.append(Problem(entry.seq, _("altered, or an entry before it was removed")))
            previous, expected_seq, last = entry.mac, entry.seq + 1, entry
        if self.head_file is None:
            return problems
        head = self._read_head()
        if isinstance(head, str):
            problems.append(Problem(last.seq if last else 0, head))
        elif head is None:
            if last is not None:
                # Without the head, deleting the newest entries would leave no trace.
                problems.append(Problem(last.seq, _("the head file is missing")))
        elif last is None or last.seq < head.seq:
            problems.append(Problem(head.seq, _("newest entries removed")))
        elif last.seq == head.seq and not hmac.compare_digest(last.mac, head.mac):
            problems.append(Problem(last.seq, _("newest entry replaced")))
        return problems
