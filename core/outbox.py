"""The transactional outbox: a mail is queued in the same transaction as the event
that causes it, and a worker delivers it later, with retries and backoff.

A dead SMTP server or a crash therefore loses nothing: the row stays pending until a
transport has accepted it. Payloads rest sealed with the server secret, because a
queued verification mail contains the code.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from core import labels
from core.audit import Action, AuditLog
from core.clock import Clock
from core.errors import CannotOpen
from core.mail import Email
from core.models import Channel, DeliveryStatus, OutboxItem
from core.policy import Policy
from core.ports import OutboxRecords, Repository, Transaction
from core.server_secret import ServerSecret
from core.sms import Sms, SmsTransport
from core.transports import DeliveryFailed, EmailTransport

log = logging.getLogger(__name__)

# Longer than one SMTP attempt may take (the transport's timeout is 30 s).
DELIVERY_LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # this round; they stay pending until the policy gives up
    pending: int = 0


class Outbox:
    def __init__(
        self,
        repo: Repository,
        secret: ServerSecret,
        email: EmailTransport,
        sms: SmsTransport,
        policy: Policy,
        clock: Clock,
        audit: AuditLog | None = None,
    ) -> None:
        self.audit = audit
        self.repo = repo
        self.secret = secret
        self.email = email
        self.sms = sms
        self.policy = policy
        self.clock = clock

    def enqueue_email(self, tx: OutboxRecords, email: Email) -> OutboxItem:
        return self._enqueue(tx, Channel.EMAIL, email.to_json())

    def enqueue_sms(self, tx: OutboxRecords, sms: Sms) -> OutboxItem:
        return self._enqueue(tx, Channel.SMS, sms.to_json())

    def _enqueue(self, tx: OutboxRecords, channel: Channel, payload: bytes) -> OutboxItem:
        now = self.clock()
        item = OutboxItem(channel=channel, sealed_payload=b"", created_at=now, next_attempt_at=now)
        item.sealed_payload = self.secret.seal(payload, labels.outbox(item.id))
        tx.add(item)
        return item

    async def _send(self, item: OutboxItem) -> str | None:
        """Deliver one item; who accepted it, when the transport says."""
        payload = self.secret.open(item.sealed_payload, labels.outbox(item.id))
        if item.channel is Channel.SMS:
            await self.sms.send(Sms.from_json(payload))
            return None
        return await self.email.send(Email.from_json(payload))

    def retrying(self, limit: int = 20) -> list[OutboxItem]:
        """Items that failed at least once and will be tried again, oldest first: what
        an operator needs to see during an outage (the kind of error, never a payload)."""
        with self.repo.transaction() as tx:
            return tx.retrying_outbox(limit)

    def backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with +-20 % jitter, so many queued mails do not retry in step."""
        factor: float = 2 ** min(attempts - 1, 20)
        base = self.policy.delivery_first_retry * factor
        capped = min(base, self.policy.delivery_max_backoff)
        jitter = 0.8 + secrets.randbelow(401) / 1000
        return capped * jitter

    async def deliver_due(self) -> DeliveryReport:
        """Deliver everything that is due now, in waves of ``policy.delivery_concurrency``.

        Each wave is claimed in one transaction (a lease on each item: other workers,
        in this process or on other hosts, take other items meanwhile), sent
        concurrently, and its outcomes recorded in one transaction: two commits per
        wave instead of two per mail.
        """
        sent = failed = 0
        with self.repo.transaction() as tx:
            # The worker's sweep: invitations past their date lose their share, so the
            # cut-off holds even for a reference nobody looks up again.
            tx.destroy_expired_shares(self.clock())
        wave = max(1, self.policy.delivery_concurrency)
        while True:
            now = self.clock()
            with self.repo.transaction() as tx:
                # A lease, not a lock: if this process dies mid-send the items are due
                # again after the lease, and the stable Message-ID lets receivers drop
                # the copy.
                claimed = tx.claim_due_outbox(now, wave, now + DELIVERY_LEASE)
            ok, bad = await self._deliver_wave(claimed)
            sent, failed = sent + ok, failed + bad
            # Sent or failed, every claimed item is no longer due now (sent, rescheduled
            # or leased); a wave that was not full took the last of what was due.
            if len(claimed) < wave:
                break
        with self.repo.transaction() as tx:
            pending = tx.count_pending_outbox()
        return DeliveryReport(sent=sent, failed=failed, pending=pending)

    async def _deliver_wave(self, claimed: list[OutboxItem]) -> tuple[int, int]:
        if not claimed:
            return 0, 0

        async def attempt(item: OutboxItem) -> tuple[str | None, str | None]:
            """(error, who accepted it)."""
            try:
                taken = await self._send(item)
            except (DeliveryFailed, CannotOpen) as exc:
                return str(exc) or type(exc).__name__, None
            return None, taken

        outcomes = await asyncio.gather(*(attempt(item) for item in claimed))
        sent = failed = 0
        with self.repo.transaction() as tx:
            for item, (error, taken) in zip(claimed, outcomes, strict=True):
                if error is not None:
                    failed += 1
                    self._record_failure(tx, item, error)
                    continue
                # Delivered: the sealed copy (with any code in it) has no use any more.
                detail = f"{item.channel} {item.id}" + (f" accepted by {taken}" if taken else "")
                self._record(
                    tx,
                    item,
                    status=DeliveryStatus.SENT,
                    sent_at=self.clock(),
                    sealed_payload=b"",
                    accepted_by=taken,
                    audit=(Action.NOTIFICATION_DELIVERED, detail),
                )
                sent += 1
        return sent, failed

    def _record_failure(self, tx: Transaction, item: OutboxItem, reason: str) -> None:
        attempts = item.attempts + 1
        give_up = attempts >= self.policy.delivery_give_up_after_attempts
        log.warning("delivery of outbox item %s failed (%s), attempt %d", item.id, reason, attempts)
        # Into the audit log: the first failure and the giving up, not every retry.
        noteworthy = attempts == 1 or give_up
        final: dict[str, object] = {}
        if give_up:
            # Given up: the sealed copy (a code, a reference) goes, as after a delivery,
            # and a notification's reference, now in no mailbox, opens nothing any more.
            final["sealed_payload"] = b""
            invitation = tx.invitation_by_notice(item.id)
            if invitation is not None:
                tx.destroy_share(invitation.id)
        self._record(
            tx,
            item,
            attempts=attempts,
            last_error=reason,
            status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
            next_attempt_at=self.clock() + self.backoff(attempts),
            audit=(Action.NOTIFICATION_FAILED, f"{item.channel} {item.id}: {reason}")
            if noteworthy
            else None,
            **final,
        )

    def _record(
        self,
        tx: Transaction,
        item: OutboxItem,
        audit: tuple[Action, str] | None = None,
        **changes: object,
    ) -> None:
        current = tx.outbox_item(item.id)
        if current is None:
            return
        for name, value in changes.items():
            setattr(current, name, value)
        tx.save_outbox(current)
        if audit and self.audit:
            # A notification names its conversation (and so whom it is about).
            invitation = tx.invitation_by_notice(item.id)
            participant = tx.participant(invitation.participant_id) if invitation else None
            conversation = participant.conversation_id if participant else None
            self.audit.append(tx, "outbox", audit[0], conversation, audit[1])
