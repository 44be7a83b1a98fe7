"""The audit log: who did what, when, to which conversation — tamper-evident.

Each entry carries a MAC over its own fields and the MAC of the entry before, keyed
with the server secret (not in the database). Editing an entry breaks its MAC;
deleting one breaks the chain after it and leaves a gap in the sequence; deleting the
newest entries is caught by a head file beside the database (``audit.head``), which
records the newest sequence number and MAC. Entries name no content: no subjects,
no codes, no addresses of guests.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

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


GENESIS = bytes(32)


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str

    def __str__(self) -> str:
        return _("entry {seq}: {what}").format(seq=self.seq, what=self.what)


class AuditLog:
    def __init__(self, secret: ServerSecret, clock: Clock, head_file: Path | None) -> None:
        self.secret = secret
        self.clock = clock
        self.head_file = head_file

    def _mac(self, previous: bytes, entry: AuditEntry) -> bytes:
        return self.secret.tag(
            "audit",
            previous.hex(),
            str(entry.seq),
            entry.at.isoformat(),
            entry.actor,
            entry.action,
            entry.conversation_id or "",
            entry.detail,
        )

    def append(
        self,
        tx: AuditRecords,
        actor: str,
        action: Action,
        conversation_id: str | None = None,
        detail: str = "",
    ) -> AuditEntry:
        last = tx.audit_tail()
        entry = AuditEntry(
            seq=(last.seq + 1) if last else 1,
            at=self.clock(),
            actor=actor,
            action=action,
            conversation_id=conversation_id,
            detail=detail,
            mac=b"",
        )
        entry.mac = self._mac(last.mac if last else GENESIS, entry)
        tx.add(entry)
        tx.after_commit(lambda: self._advance_head(entry))
        return entry

    def _advance_head(self, entry: AuditEntry) -> None:
        if self.head_file is None:
            return
        fd = os.open(self.head_file, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # several processes append: never move the head back
            current = f.read()
            seq = json.loads(current)["seq"] if current else 0
            if entry.seq > seq:
                f.seek(0)
                f.truncate()
                f.write(json.dumps({"seq": entry.seq, "mac": entry.mac.hex()}))

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
        if self.head_file is not None and self.head_file.exists():
            head = json.loads(self.head_file.read_text("utf-8"))
            if last is None or last.seq < head["seq"]:
                problems.append(Problem(head["seq"], _("newest entries removed")))
            elif last.seq == head["seq"] and last.mac.hex() != head["mac"]:
                problems.append(Problem(last.seq, _("newest entry replaced")))
        return problems
