"""Queued e-mail and SMS (implemented by storage.repository.outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.models import Channel, OutboxItem
from core.unit_of_work import UnitOfWork


class OutboxRecords(UnitOfWork, Protocol):
    """Queued e-mail and SMS (core.outbox)."""

    def due_outbox(self, now: datetime, limit: int) -> list[OutboxItem]: ...

    def count_pending_outbox(self) -> int: ...

    def retrying_outbox(self, limit: int) -> list[OutboxItem]:
        """Pending items that failed at least once, oldest first."""
        ...

    def lock_for_sms_budget(self) -> None:
        """Until this transaction ends, others that lock the SMS budget wait: text
        messages of the last hour are counted, then one is queued."""
        ...

    def outbox_queued_since(self, channel: Channel, since: datetime) -> list[datetime]:
        """When each item of ``channel`` queued at or after ``since`` was queued (any state)."""
        ...

    def claim_due_outbox(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[OutboxItem]:
        """Atomically take up to ``limit`` items due at ``now``, oldest first, moving their
        next attempt to ``lease_until``: whatever one worker takes, no other worker takes
        (nor waits for) until the lease ends. Returns them as claimed."""
        ...

    def outbox_item(self, item_id: str) -> OutboxItem | None: ...

    def save_outbox(self, item: OutboxItem) -> None: ...

    def delete_old_records(self, before: datetime) -> int:
        """Delete what only served limits or deliveries: codes that expired, failed
        log-ins and outbox rows that are delivered or given up, all before ``before``;
        how many rows."""
        ...
