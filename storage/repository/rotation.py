"""A mailbox key rotation under way, and the wrapped keys it walks through in id order
(``RotationRecords``; core.rotation)."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, update
from sqlmodel import col, select

from core.models import MailboxRotation, Message, Participant
from storage.repository.conversations import _message
from storage.repository.rows import SessionBound, participant, update_row
from storage.tables import MailboxRotationRow, MessageRow, ParticipantRow


class RotationQueries(SessionBound):
    def rotation(self) -> MailboxRotation | None:
        row = self.session.exec(select(MailboxRotationRow)).first()
        return MailboxRotation(**row.model_dump()) if row else None

    def save_rotation(self, rotation: MailboxRotation) -> None:
        update_row(self.session, MailboxRotationRow, rotation.id, rotation)

    def delete_rotation(self, rotation_id: str) -> None:
        self.session.execute(
            delete(MailboxRotationRow).where(col(MailboxRotationRow.id) == rotation_id)
        )

    def count_messages(self) -> int:
        return self.session.exec(select(func.count()).select_from(MessageRow)).one()

    def count_participants(self) -> int:
        return self.session.exec(select(func.count()).select_from(ParticipantRow)).one()

    def message_keys_after(self, cursor: str, limit: int) -> list[Message]:
        rows = self.session.exec(
            select(MessageRow)
            .where(col(MessageRow.id) > cursor)
            .order_by(col(MessageRow.id))
            .limit(limit)
        ).all()
        return [_message(row, []) for row in rows]

    def rewrap_messages(self, wraps: list[tuple[str, bytes, bytes]]) -> None:
        if not wraps:
            return
        # One executemany on the connection: an ORM UPDATE per row cost more than the crypto.
        statement = (
            update(MessageRow)
            .where(col(MessageRow.id) == bindparam("message_id"))
            .values(wrapped_key=bindparam("wrapped"), origin_mac=bindparam("origin"))
        )
        self.session.connection().execute(
            statement,
            [{"message_id": m, "wrapped": w, "origin": o} for m, w, o in wraps],
        )

    def participants_after(self, cursor: str, limit: int) -> list[Participant]:
        rows = self.session.exec(
            select(ParticipantRow)
            .where(col(ParticipantRow.id) > cursor)
            .order_by(col(ParticipantRow.id))
            .limit(limit)
        ).all()
        return [participant(r) for r in rows]

    def rewrap_participants(self, wraps: list[tuple[str, bytes]]) -> None:
        if not wraps:
            return
        statement = (
            update(ParticipantRow)
            .where(col(ParticipantRow.id) == bindparam("participant_id"))
            .values(thread_key_wrapped=bindparam("wrapped"))
        )
        self.session.connection().execute(
            statement, [{"participant_id": p, "wrapped": w} for p, w in wraps]
        )
