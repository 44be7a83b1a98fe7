"""The SQL implementation of ``core.ports``: converters between rows and dataclasses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.models import (
    AuditEntry,
    Challenge,
    Channel,
    Conversation,
    DeliveryStatus,
    Direction,
    Invitation,
    ItemRole,
    LoginFailure,
    Mailbox,
    Message,
    Method,
    Organisation,
    OutboxItem,
    Participant,
    ParticipantKey,
    Purpose,
    SealedItem,
    StaffMember,
)
from core.ports import Entity
from storage.tables import (
    AuditRow,
    ChallengeRow,
    ConversationRow,
    InvitationRow,
    LoginFailureRow,
    MailboxRow,
    MessageItemRow,
    MessageRow,
    OrganisationRow,
    OutboxRow,
    ParticipantKeyRow,
    ParticipantRow,
    StaffRow,
)

_SIMPLE_ROWS: dict[type, type] = {
    Organisation: OrganisationRow,
    Mailbox: MailboxRow,
    StaffMember: StaffRow,
    Challenge: ChallengeRow,
    Conversation: ConversationRow,
    OutboxItem: OutboxRow,
    Participant: ParticipantRow,
    Invitation: InvitationRow,
    ParticipantKey: ParticipantKeyRow,
    AuditEntry: AuditRow,
    LoginFailure: LoginFailureRow,
}


def _participant(row: ParticipantRow) -> Participant:
    data = row.model_dump()
    data["method"] = Method(row.method)
    data["verified_via"] = Method(row.verified_via) if row.verified_via else None
    return Participant(**data)


def _update(session: Session, row_type: type, key: object, entity: object) -> None:
    """Copy a dataclass's fields onto its existing row."""
    row = session.get(row_type, key)
    if row is None:
        raise KeyError(key)
    for name, value in asdict(entity).items():  # type: ignore[call-overload]
        setattr(row, name, value)
    session.add(row)
    session.flush()


def _challenge(row: ChallengeRow) -> Challenge:
    return Challenge(
        id=row.id,
        purpose=Purpose(row.purpose),
        destination_tag=row.destination_tag,
        code_tag=row.code_tag,
        created_at=row.created_at,
        expires_at=row.expires_at,
        attempts=row.attempts,
        consumed_at=row.consumed_at,
    )


def _outbox(row: OutboxRow) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        channel=Channel(row.channel),
        sealed_payload=row.sealed_payload,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        attempts=row.attempts,
        status=DeliveryStatus(row.status),
        last_error=row.last_error,
        sent_at=row.sent_at,
    )


class SqlTransaction:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.on_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.on_commit.append(callback)

    def save_staff(self, staff: StaffMember) -> None:
        _update(self.session, StaffRow, staff.id, staff)

    def count_login_failures(self, email_tag: str, since: datetime) -> int:
        return self.session.exec(
            select(func.count())
            .select_from(LoginFailureRow)
            .where(LoginFailureRow.email_tag == email_tag, col(LoginFailureRow.at) >= since)
        ).one()

    def clear_login_failures(self, email_tag: str) -> None:
        self.session.execute(
            delete(LoginFailureRow).where(col(LoginFailureRow.email_tag) == email_tag)
        )

    def conversation(self, conversation_id: str) -> Conversation | None:
        row = self.session.get(ConversationRow, conversation_id)
        return Conversation(**row.model_dump()) if row else None

    def conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        rows = self.session.exec(
            select(ConversationRow)
            .order_by(col(ConversationRow.last_message_at).desc(), col(ConversationRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return [Conversation(**r.model_dump()) for r in rows]

    def save_conversation(self, conversation: Conversation) -> None:
        _update(self.session, ConversationRow, conversation.id, conversation)

    def messages_in(self, conversation_id: str) -> list[Message]:
        rows = self.session.exec(
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation_id)
            .order_by(col(MessageRow.created_at))
        ).all()
        return [self._message(r) for r in rows]

    def messages_of(self, conversation_ids: list[str]) -> dict[str, list[Message]]:
        rows = self.session.exec(
            select(MessageRow)
            .where(col(MessageRow.conversation_id).in_(conversation_ids))
            .order_by(col(MessageRow.created_at))
        ).all()
        items = self._items_of([r.id for r in rows])
        found: dict[str, list[Message]] = {}
        for row in rows:
            found.setdefault(row.conversation_id, []).append(
                self._message(row, items.get(row.id, []))
            )
        return found

    def participant(self, participant_id: str) -> Participant | None:
        row = self.session.get(ParticipantRow, participant_id)
        return _participant(row) if row else None

    def participants_in(self, conversation_id: str) -> list[Participant]:
        rows = self.session.exec(
            select(ParticipantRow)
            .where(ParticipantRow.conversation_id == conversation_id)
            .order_by(col(ParticipantRow.created_at))
        ).all()
        return [_participant(r) for r in rows]

    def participants_of(self, conversation_ids: list[str]) -> dict[str, list[Participant]]:
        rows = self.session.exec(
            select(ParticipantRow)
            .where(col(ParticipantRow.conversation_id).in_(conversation_ids))
            .order_by(col(ParticipantRow.created_at))
        ).all()
        found: dict[str, list[Participant]] = {}
        for row in rows:
            found.setdefault(row.conversation_id, []).append(_participant(row))
        return found

    def participants(self, limit: int = 50, offset: int = 0) -> list[Participant]:
        rows = self.session.exec(
            select(ParticipantRow)
            .order_by(col(ParticipantRow.created_at).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return [_participant(r) for r in rows]

    def save_participant(self, participant: Participant) -> None:
        _update(self.session, ParticipantRow, participant.id, participant)

    def invitation_by_tag(self, reference_tag: str) -> Invitation | None:
        row = self.session.exec(
            select(InvitationRow).where(InvitationRow.reference_tag == reference_tag)
        ).first()
        return Invitation(**row.model_dump()) if row else None

    def invitations_of(self, participant_id: str) -> list[Invitation]:
        rows = self.session.exec(
            select(InvitationRow)
            .where(InvitationRow.participant_id == participant_id)
            .order_by(col(InvitationRow.created_at))
        ).all()
        return [Invitation(**r.model_dump()) for r in rows]

    def participant_keys(self, participant_id: str) -> dict[str, bytes]:
        rows = self.session.exec(
            select(ParticipantKeyRow).where(ParticipantKeyRow.participant_id == participant_id)
        ).all()
        return {r.message_id: r.wrapped for r in rows}

    def audit_tail(self) -> AuditEntry | None:
        # LIMIT 1: without it the ORM loads the whole log to return its first row, and
        # every append grew slower with the log (docs/PERFORMANCE.md, fan-out).
        row = self.session.exec(
            select(AuditRow).order_by(col(AuditRow.seq).desc()).limit(1)
        ).first()
        return AuditEntry(**row.model_dump()) if row else None

    def audit_entries(self) -> Iterator[AuditEntry]:
        for row in self.session.exec(select(AuditRow).order_by(col(AuditRow.seq))):
            yield AuditEntry(**row.model_dump())

    def add(self, entity: Entity) -> None:
        if isinstance(entity, Message):
            self._add_message(entity)
            return
        row_type = _SIMPLE_ROWS[type(entity)]
        self.session.add(row_type(**asdict(entity)))
        self.session.flush()  # surface constraint errors here, inside the transaction

    def _add_message(self, message: Message) -> None:
        data = asdict(message)
        data.pop("items")
        self.session.add(MessageRow(**data))
        self.session.flush()  # the message row first: items refer to it
        for item in message.items:
            self.session.add(MessageItemRow(message_id=message.id, **asdict(item)))
        self.session.flush()

    def organisation(self) -> Organisation | None:
        row = self.session.exec(select(OrganisationRow)).first()
        return Organisation(**row.model_dump()) if row else None

    def mailbox(self) -> Mailbox | None:
        row = self.session.exec(select(MailboxRow).order_by(col(MailboxRow.created_at))).first()
        return Mailbox(**row.model_dump()) if row else None

    def staff_by_email(self, email: str) -> StaffMember | None:
        row = self.session.exec(select(StaffRow).where(StaffRow.email == email)).first()
        return StaffMember(**row.model_dump()) if row else None

    def challenge(self, challenge_id: str) -> Challenge | None:
        row = self.session.get(ChallengeRow, challenge_id)
        return _challenge(row) if row else None

    def challenges_since(self, destination_tag: str, since: datetime) -> list[Challenge]:
        rows = self.session.exec(
            select(ChallengeRow).where(
                ChallengeRow.destination_tag == destination_tag,
                col(ChallengeRow.created_at) >= since,
            )
        )
        return [_challenge(r) for r in rows]

    def count_failed_attempt(self, challenge_id: str) -> int:
        self.session.execute(
            update(ChallengeRow)
            .where(col(ChallengeRow.id) == challenge_id)
            .values(attempts=ChallengeRow.attempts + 1)
        )
        attempts = self.session.exec(
            select(ChallengeRow.attempts).where(ChallengeRow.id == challenge_id)
        ).one()
        return attempts

    def consume_challenge(self, challenge_id: str, at: datetime) -> bool:
        # One conditional UPDATE: of two racing verifications only one sees rowcount 1.
        result = self.session.execute(
            update(ChallengeRow)
            .where(col(ChallengeRow.id) == challenge_id, col(ChallengeRow.consumed_at).is_(None))
            .values(consumed_at=at)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def _items_of(self, message_ids: list[str]) -> dict[str, list[MessageItemRow]]:
        found: dict[str, list[MessageItemRow]] = {}
        for item in self.session.exec(
            select(MessageItemRow).where(col(MessageItemRow.message_id).in_(message_ids))
        ):
            found.setdefault(item.message_id, []).append(item)
        return found

    def _message(self, row: MessageRow, items: list[MessageItemRow] | None = None) -> Message:
        if items is None:
            items = list(
                self.session.exec(
                    select(MessageItemRow).where(MessageItemRow.message_id == row.id)
                ).all()
            )
        return Message(
            id=row.id,
            conversation_id=row.conversation_id,
            direction=Direction(row.direction),
            wrapped_key=row.wrapped_key,
            created_at=row.created_at,
            attachment_count=row.attachment_count,
            items=[
                SealedItem(
                    role=ItemRole(i.role),
                    position=i.position,
                    blob_id=i.blob_id,
                    sealed_size=i.sealed_size,
                )
                for i in items
            ],
        )

    def message(self, message_id: str) -> Message | None:
        row = self.session.get(MessageRow, message_id)
        return self._message(row) if row else None

    def blob_ids(self) -> set[str]:
        return set(self.session.exec(select(MessageItemRow.blob_id)).all())

    def messages(self, limit: int = 50, offset: int = 0) -> list[Message]:
        rows = self.session.exec(
            select(MessageRow)
            .order_by(col(MessageRow.created_at).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return [self._message(r) for r in rows]

    def due_outbox(self, now: datetime, limit: int) -> list[OutboxItem]:
        rows = self.session.exec(
            select(OutboxRow)
            .where(
                OutboxRow.status == DeliveryStatus.PENDING.value,
                col(OutboxRow.next_attempt_at) <= now,
            )
            .order_by(col(OutboxRow.created_at))
            .limit(limit)
        ).all()
        return [_outbox(r) for r in rows]

    def retrying_outbox(self, limit: int) -> list[OutboxItem]:
        rows = self.session.exec(
            select(OutboxRow)
            .where(OutboxRow.status == DeliveryStatus.PENDING.value, OutboxRow.attempts > 0)
            .order_by(col(OutboxRow.created_at))
            .limit(limit)
        ).all()
        return [_outbox(r) for r in rows]

    def count_pending_outbox(self) -> int:
        return self.session.exec(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.status == DeliveryStatus.PENDING.value)
        ).one()

    def outbox_queued_since(self, channel: Channel, since: datetime) -> list[datetime]:
        rows = self.session.exec(
            select(OutboxRow.created_at).where(
                OutboxRow.channel == channel.value, col(OutboxRow.created_at) >= since
            )
        )
        return list(rows)

    def claim_outbox(self, item_id: str, expected_next: datetime, lease_until: datetime) -> bool:
        result = self.session.execute(
            update(OutboxRow)
            .where(
                col(OutboxRow.id) == item_id,
                col(OutboxRow.status) == DeliveryStatus.PENDING.value,
                col(OutboxRow.next_attempt_at) == expected_next,
            )
            .values(next_attempt_at=lease_until)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def outbox_item(self, item_id: str) -> OutboxItem | None:
        row = self.session.get(OutboxRow, item_id)
        return _outbox(row) if row else None

    def save_outbox(self, item: OutboxItem) -> None:
        _update(self.session, OutboxRow, item.id, item)


class SqlRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        # expire_on_commit=False: returned dataclasses are built inside, rows not reused.
        with Session(self.engine, expire_on_commit=False) as session:
            tx = SqlTransaction(session)
            with session.begin():
                yield tx
            for callback in tx.on_commit:
                callback()
