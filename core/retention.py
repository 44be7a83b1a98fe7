"""Retention and purge: a conversation's content is destroyed when its time has passed.

A conversation is kept for the office's retention period (``Policy.retention_default``
unless the office set its own) after its last activity: its last message, or the end of
the last reference that opens it, whichever is later. Then the purge *crypto-shreds*
it: every wrapped key (the content keys wrapped to the mailbox and under thread keys,
the thread keys, the invitations' keys and server shares), the sealed blobs (through
the blob store, whatever holds them), the sealed contact details and every reference
row go, in one transaction per conversation; the blobs after it committed. What stays
is the audit log, whose entries name ids, times and pseudonyms, never content; and a
``purged`` entry for each conversation, and one for each run.

Staff can keep a conversation from the purge with a reason (a *hold*: a complaint, a
dispute, a request of the inspectorate); the reason is sealed, placing and lifting are
audited.

The outbox worker runs the purge once a day (:meth:`Retention.run_if_due`) and then also
signs the audit chain's head with the organisation's key: a fixed point for auditors.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core import labels
from core.audit import Action
from core.context import Context, require_organisation
from core.errors import CannotOpen, InvalidInput
from core.i18n import _
from core.models import Conversation, Hold, ItemRole
from core.ports import PurgedRows, Transaction
from core.signing import SigningKey

PURGE_ACTOR = "purge"  # the actor of the daily run; a person's run names them
PAGE = 200  # candidates looked at per query


@dataclass(frozen=True)
class Candidate:
    """A conversation past its retention (or held), as ``veilig purge --dry-run`` lists it."""

    conversation: Conversation
    last_activity: datetime
    purge_after: datetime
    messages: int
    attachments: int
    hold: Hold | None = None


@dataclass
class PurgeReport:
    purged: list[Candidate] = field(default_factory=list)
    held: list[Candidate] = field(default_factory=list)  # past retention, kept by a hold
    blobs: int = 0
    wrapped_keys: int = 0
    old_records: int = 0  # codes, failed log-ins and outbox rows past their use
    files_clean: bool = True  # the database's own files hold no copy of deleted rows


def head_statement(org: str, seq: int, mac: bytes, at: datetime) -> bytes:
    """What the organisation signs about the audit chain's head: who, which entry, when.
    An auditor rebuilds it from a ``audit.head-signed`` entry to check its signature."""
    return f"veilig audit head\n{org}\n{seq}\n{mac.hex()}\n{at.isoformat()}\n".encode()


class Retention:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- the period ------------------------------------------------------------------

    def period(self, tx: Transaction) -> timedelta:
        org, _mailbox = require_organisation(tx)
        if org.retention_days is None:
            return self.ctx.policy.retention_default
        return timedelta(days=org.retention_days)

    def current_period(self) -> tuple[timedelta, bool]:
        """The period in force, and whether it is the policy's default."""
        with self.ctx.repo.transaction() as tx:
            org, _mailbox = require_organisation(tx)
            return self.period(tx), org.retention_days is None

    def set_period(self, actor: str, days: int) -> None:
        policy = self.ctx.policy
        if not policy.retention_min.days <= days <= policy.retention_max.days:
            raise InvalidInput(
                _("Keep conversations between {low} and {high} days.").format(
                    low=policy.retention_min.days, high=policy.retention_max.days
                )
            )
        with self.ctx.repo.transaction() as tx:
            org, _mailbox = require_organisation(tx)
            before = org.retention_days
            org.retention_days = days
            tx.save_organisation(org)
            was = "default" if before is None else str(before)
            self.ctx.audit.append(tx, actor, Action.RETENTION_SET, detail=f"{was} -> {days} days")

    # --- holds -----------------------------------------------------------------------

    def place_hold(self, actor: str, conversation_id: str, reason: str) -> None:
        reason = reason.strip()
        if not reason:
            raise InvalidInput(_("Say why the conversation is kept: the reason is needed."))
        with self.ctx.repo.transaction() as tx:
            if tx.conversation(conversation_id) is None:
                raise CannotOpen("no such conversation")
            if tx.hold(conversation_id) is not None:
                tx.remove_hold(conversation_id)
            sealed = self.ctx.secret.seal(reason.encode(), labels.hold(conversation_id))
            tx.add(Hold(conversation_id, sealed, actor, self.ctx.clock()))
            self.ctx.audit.append(tx, actor, Action.HOLD_PLACED, conversation_id)

    def lift_hold(self, actor: str, conversation_id: str) -> bool:
        with self.ctx.repo.transaction() as tx:
            if tx.hold(conversation_id) is None:
                return False
            tx.remove_hold(conversation_id)
            self.ctx.audit.append(tx, actor, Action.HOLD_LIFTED, conversation_id)
        return True

    def hold_of(self, conversation_id: str) -> tuple[Hold, str] | None:
        """The hold on a conversation with its reason, for staff."""
        with self.ctx.repo.transaction() as tx:
            hold = tx.hold(conversation_id)
        if hold is None:
            return None
        reason = self.ctx.secret.open(hold.reason_sealed, labels.hold(conversation_id))
        return hold, reason.decode("utf-8", "replace")

    def keeping(self, conversation_id: str) -> tuple[Candidate, str] | None:
        """How long a conversation is kept: its last activity, the day it may be purged,
        and its hold with the reason ("" when not held). For the person it is about
        (GDPR art. 15(1)(d): the period the data is kept)."""
        with self.ctx.repo.transaction() as tx:
            conversation = tx.conversation(conversation_id)
            if conversation is None:
                return None
            candidate = self._candidate(tx, conversation, self.period(tx))
        if candidate is None:
            return None
        held = self.hold_of(conversation_id) if candidate.hold is not None else None
        return candidate, held[1] if held else ""

    # --- the purge -------------------------------------------------------------------

    def due(self) -> PurgeReport:
        """What a purge now would destroy, and what is past retention but held."""
        report = PurgeReport()
        now = self.ctx.clock()
        with self.ctx.repo.transaction() as tx:
            period = self.period(tx)
            offset = 0
            while True:
                # Inactive by their last message first; expiries and holds checked below.
                page = tx.inactive_conversations(now - period, PAGE, offset)
                for conversation in page:
                    candidate = self._candidate(tx, conversation, period)
                    if candidate is None or now < candidate.purge_after:
                        continue
                    (report.held if candidate.hold else report.purged).append(candidate)
                if len(page) < PAGE:
                    break
                offset += PAGE
        return report

    def _candidate(
        self, tx: Transaction, conversation: Conversation, period: timedelta
    ) -> Candidate | None:
        fresh = tx.conversation(conversation.id)
        if fresh is None:
            return None
        messages = tx.messages_in(fresh.id)
        last = max(
            [fresh.last_message_at or fresh.created_at, fresh.created_at]
            + [m.created_at for m in messages]
            # A reference opens until its own expiry: content stays at least that long.
            + [p.expires_at for p in tx.participants_in(fresh.id)]
        )
        attachments = sum(
            1 for m in messages for item in m.items if item.role is ItemRole.ATTACHMENT
        )
        hold = tx.hold(fresh.id)
        return Candidate(fresh, last, last + period, len(messages), attachments, hold)

    def purge(self, actor: str = PURGE_ACTOR) -> PurgeReport:
        """Destroy every conversation past retention and not held; audited, each one and
        the run. Each is checked again inside its own transaction: a message that
        arrived since, or a hold placed since, keeps it."""
        planned = self.due()
        report = PurgeReport(held=planned.held)
        for candidate in planned.purged:
            purged = self._purge_one(actor, candidate.conversation.id)
            if purged is not None:
                rows, done = purged
                report.purged.append(done)
                report.blobs += len(rows.blob_ids)
                report.wrapped_keys += rows.wrapped_keys
        now = self.ctx.clock()
        with self.ctx.repo.transaction() as tx:
            report.old_records = tx.delete_old_records(now - self.ctx.policy.records_kept)
            detail = (
                f"{len(report.purged)} conversations, {report.blobs} blobs, "
                f"{report.wrapped_keys} wrapped keys, {report.old_records} old records; "
                f"{len(report.held)} held"
            )
            self.ctx.audit.append(tx, actor, Action.PURGE_RUN, detail=detail)
        report.files_clean = self.ctx.repo.forget_deleted()
        return report

    def _purge_one(self, actor: str, conversation_id: str) -> tuple[PurgedRows, Candidate] | None:
        now = self.ctx.clock()
        blobs = self.ctx.blobs
        with self.ctx.repo.transaction() as tx:
            conversation = tx.conversation(conversation_id)
            if conversation is None:
                return None  # another purge was first
            candidate = self._candidate(tx, conversation, self.period(tx))
            if candidate is None or candidate.hold is not None or now < candidate.purge_after:
                return None
            rows = tx.delete_conversation(conversation_id)
            detail = (
                f"{rows.messages} messages, {rows.attachments} attachments, "
                f"{rows.participants} participants, {rows.wrapped_keys} wrapped keys, "
                f"{len(rows.blob_ids)} blobs; last activity {candidate.last_activity.isoformat()}"
            )
            self.ctx.audit.append(
                tx, actor, Action.PURGED, conversation_id, detail, subject=conversation.subject_tag
            )

            def delete_blobs(ids: list[str] = rows.blob_ids) -> None:
                # After the commit: were the rows to stay, their blobs must too. A blob
                # left by a failure here is referred to by nothing: the sweep takes it.
                for blob_id in ids:
                    blobs.delete(blob_id)

            tx.after_commit(delete_blobs)
        return rows, candidate

    # --- the daily run ---------------------------------------------------------------

    def run_if_due(self) -> PurgeReport | None:
        """The outbox worker's daily job: purge, and sign the audit head, each when it
        last happened ``Policy.purge_interval`` ago or more (an operator's own purge
        counts as the day's purge; the head is signed all the same). The purge's report,
        or None when no purge was due."""
        interval, now = self.ctx.policy.purge_interval, self.ctx.clock()
        with self.ctx.repo.transaction() as tx:
            purged = tx.audit_last(Action.PURGE_RUN)
            signed = tx.audit_last(Action.AUDIT_HEAD_SIGNED)
        report = None
        if purged is None or now - purged.at >= interval:
            report = self.purge()
        if signed is None or now - signed.at >= interval:
            self.sign_head()
        return report

    def sign_head(self, actor: str = PURGE_ACTOR) -> str:
        """Sign the chain's newest entry with the organisation's key, into the chain: the
        signature names entry, MAC and time, and anyone with the public key checks it
        (core.audit_check). Returns the signature (base64)."""
        key = SigningKey.of(self.ctx.secret)
        with self.ctx.repo.transaction() as tx:
            org, _mailbox = require_organisation(tx)
            tail = tx.audit_tail()
            seq, mac = (tail.seq, tail.mac) if tail else (0, b"")
            at = self.ctx.clock()
            signed = key.sign(head_statement(org.name, seq, mac, at))
            signature = base64.b64encode(signed).decode()
            detail = f"entry {seq} mac {mac.hex()} at {at.isoformat()} signature {signature}"
            self.ctx.audit.append(tx, actor, Action.AUDIT_HEAD_SIGNED, detail=detail)
        return signature
