"""Outside people in conversations, their invitations and the content keys wrapped for
them (``ParticipantRecords``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from core.models import Invitation, Participant
from storage.repository import rows
from storage.repository.rows import SessionBound, count_up, rowcount, update_row
from storage.tables import InvitationRow, OutboxRow, ParticipantKeyRow, ParticipantRow


class ParticipantQueries(SessionBound):
    def participant(self, participant_id: str) -> Participant | None:
        row = self.session.get(ParticipantRow, participant_id)
        return rows.participant(row) if row else None

    def participants_in(self, conversation_id: str) -> list[Participant]:
        found = self.session.exec(
            select(ParticipantRow)
            .where(ParticipantRow.conversation_id == conversation_id)
            .order_by(col(ParticipantRow.created_at))
        ).all()
        return [rows.participant(r) for r in found]

    def participants_of(self, conversation_ids: list[str]) -> dict[str, list[Participant]]:
        found = self.session.exec(
            select(ParticipantRow)
            .where(col(ParticipantRow.conversation_id).in_(conversation_ids))
            .order_by(col(ParticipantRow.created_at))
        ).all()
        by_conversation: dict[str, list[Participant]] = {}
        for row in found:
            by_conversation.setdefault(row.conversation_id, []).append(rows.participant(row))
        return by_conversation

    def participants(self, limit: int = 50, offset: int = 0) -> list[Participant]:
        found = self.session.exec(
            select(ParticipantRow)
            .order_by(col(ParticipantRow.created_at).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return [rows.participant(r) for r in found]

    def save_participant(self, participant: Participant) -> None:
        update_row(self.session, ParticipantRow, participant.id, participant)

    def invitation_by_tag(self, reference_tag: str) -> Invitation | None:
        row = self.session.exec(
            select(InvitationRow).where(InvitationRow.reference_tag == reference_tag)
        ).first()
        return Invitation(**row.model_dump()) if row else None

    def invitation(self, invitation_id: str) -> Invitation | None:
        row = self.session.get(InvitationRow, invitation_id)
        return Invitation(**row.model_dump()) if row else None

    def invitation_by_notice(self, outbox_id: str) -> Invitation | None:
        row = self.session.exec(
            select(InvitationRow).where(InvitationRow.notice_outbox_id == outbox_id)
        ).first()
        return Invitation(**row.model_dump()) if row else None

    def destroy_shares(self, participant_id: str) -> int:
        result = self.session.execute(
            update(InvitationRow)
            .where(col(InvitationRow.participant_id) == participant_id)
            .values(share_sealed=b"")
        )
        return rowcount(result)

    def destroy_share(self, invitation_id: str) -> None:
        self.session.execute(
            update(InvitationRow)
            .where(col(InvitationRow.id) == invitation_id)
            .values(share_sealed=b"")
        )

    def destroy_expired_shares(self, now: datetime) -> int:
        result = self.session.execute(
            update(InvitationRow)
            .where(col(InvitationRow.expires_at) <= now, col(InvitationRow.share_sealed) != b"")
            .values(share_sealed=b"")
        )
        return rowcount(result)

    def count_code_failure(self, participant_id: str) -> int:
        return count_up(self.session, ParticipantRow, participant_id, "code_failures")

    def lock_participant(self, participant_id: str, at: datetime) -> bool:
        result = self.session.execute(
            update(ParticipantRow)
            .where(
                col(ParticipantRow.id) == participant_id, col(ParticipantRow.locked_at).is_(None)
            )
            .values(locked_at=at)
        )
        return rowcount(result) == 1

    def last_notified(self, participant_ids: list[str]) -> dict[str, datetime]:
        # One query for the page: each invitation with its notification e-mail, if sent.
        sent = self.session.exec(
            select(InvitationRow.participant_id, OutboxRow.sent_at)
            .join(OutboxRow, col(OutboxRow.id) == col(InvitationRow.notice_outbox_id))
            .where(
                col(InvitationRow.participant_id).in_(participant_ids),
                col(OutboxRow.sent_at).is_not(None),
            )
        ).all()
        newest: dict[str, datetime] = {}
        for participant_id, sent_at in sent:
            if sent_at is not None and (
                participant_id not in newest or sent_at > newest[participant_id]
            ):
                newest[participant_id] = sent_at
        return newest

    def readers_of(self, message_id: str) -> list[Participant]:
        found = self.session.exec(
            select(ParticipantRow)
            .join(ParticipantKeyRow, col(ParticipantKeyRow.participant_id) == ParticipantRow.id)
            .where(ParticipantKeyRow.message_id == message_id)
            .order_by(col(ParticipantRow.created_at))
        ).all()
        return [rows.participant(r) for r in found]

    def invitations_of(self, participant_id: str) -> list[Invitation]:
        found = self.session.exec(
            select(InvitationRow)
            .where(InvitationRow.participant_id == participant_id)
            .order_by(col(InvitationRow.created_at))
        ).all()
        return [Invitation(**r.model_dump()) for r in found]

    def participant_keys(self, participant_id: str) -> dict[str, bytes]:
        found = self.session.exec(
            select(ParticipantKeyRow).where(ParticipantKeyRow.participant_id == participant_id)
        ).all()
        return {r.message_id: r.wrapped for r in found}
