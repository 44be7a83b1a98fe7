"""Queued e-mail and SMS (``OutboxRecords``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.models import Channel, DeliveryStatus, OutboxItem
from storage.repository import rows
from storage.repository.rows import SessionBound, rowcount, serialise, update_row
from storage.tables import ChallengeRow, LoginFailureRow, OutboxRow

_PENDING = DeliveryStatus.PENDING.value


class OutboxQueries(SessionBound):
    def due_outbox(self, now: datetime, limit: int) -> list[OutboxItem]:
        found = self.session.exec(_due(now, limit)).all()
        return [rows.outbox_item(r) for r in found]

    def claim_due_outbox(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[OutboxItem]:
        # One statement. PostgreSQL: the due page is locked as it is read, skipping rows
        # another worker is claiming right now, so workers take separate pages without
        # waiting for each other (and, ties ordered by id, never in a different order).
        # SQLite ignores FOR UPDATE SKIP LOCKED: its write lock already runs one claim
        # at a time.
        due = _due(now, limit).with_only_columns(col(OutboxRow.id))
        claimed = self.session.execute(
            update(OutboxRow)
            .where(col(OutboxRow.id).in_(due.with_for_update(skip_locked=True).scalar_subquery()))
            .values(next_attempt_at=lease_until)
            .returning(OutboxRow)
        ).scalars()
        items = [rows.outbox_item(r) for r in claimed]
        return sorted(items, key=lambda item: (item.created_at, item.id))

    def retrying_outbox(self, limit: int) -> list[OutboxItem]:
        found = self.session.exec(
            select(OutboxRow)
            .where(OutboxRow.status == _PENDING, col(OutboxRow.attempts) > 0)
            .order_by(col(OutboxRow.created_at))
            .limit(limit)
        ).all()
        return [rows.outbox_item(r) for r in found]

    def count_pending_outbox(self) -> int:
        return self.session.exec(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.status == _PENDING)
        ).one()

    def lock_for_sms_budget(self) -> None:
        serialise(self.session, "budget:sms")

    def outbox_queued_since(self, channel: Channel, since: datetime) -> list[datetime]:
        found = self.session.exec(
            select(OutboxRow.created_at).where(
                OutboxRow.channel == channel.value, col(OutboxRow.created_at) >= since
            )
        )
        return list(found)

    def outbox_item(self, item_id: str) -> OutboxItem | None:
        row = self.session.get(OutboxRow, item_id)
        return rows.outbox_item(row) if row else None

    def save_outbox(self, item: OutboxItem) -> None:
        update_row(self.session, OutboxRow, item.id, item)

    def delete_old_records(self, before: datetime) -> int:
        gone = rowcount(
            self.session.execute(delete(ChallengeRow).where(col(ChallengeRow.expires_at) < before))
        )
        gone += rowcount(
            self.session.execute(delete(LoginFailureRow).where(col(LoginFailureRow.at) < before))
        )
        gone += rowcount(
            self.session.execute(
                delete(OutboxRow).where(
                    col(OutboxRow.status) != _PENDING, col(OutboxRow.created_at) < before
                )
            )
        )
        return gone


def _due(now: datetime, limit: int) -> SelectOfScalar[OutboxRow]:
    """Pending items due at ``now``, oldest first (ties by id: one order on every engine)."""
    return (
        select(OutboxRow)
        .where(OutboxRow.status == _PENDING, col(OutboxRow.next_attempt_at) <= now)
        .order_by(col(OutboxRow.created_at), col(OutboxRow.id))
        .limit(limit)
    )
