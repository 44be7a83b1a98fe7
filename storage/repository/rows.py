"""Converters between SQL rows and the core's dataclasses, shared by every aggregate."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

from sqlalchemy import text, update
from sqlalchemy.engine import CursorResult, Result
from sqlmodel import Session, SQLModel, col, select

from core.models import (
    AuditEntry,
    Challenge,
    Channel,
    Conversation,
    ConversationState,
    DeliveryStatus,
    Hold,
    Invitation,
    LoginFailure,
    Mailbox,
    MailboxRotation,
    Method,
    Organisation,
    OutboxItem,
    Participant,
    ParticipantKey,
    Purpose,
    Role,
    StaffInvitation,
    StaffMember,
)
from storage.tables import (
    AuditRow,
    ChallengeRow,
    ConversationRow,
    HoldRow,
    InvitationRow,
    LoginFailureRow,
    MailboxRotationRow,
    MailboxRow,
    OrganisationRow,
    OutboxRow,
    ParticipantKeyRow,
    ParticipantRow,
    StaffInvitationRow,
    StaffRow,
)

# Entities whose row has the same fields; a Message has its items in a table apart.
SIMPLE_ROWS: dict[type, type[SQLModel]] = {
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
    Hold: HoldRow,
    StaffInvitation: StaffInvitationRow,
    MailboxRotation: MailboxRotationRow,
}


class SessionBound:
    """What every aggregate's queries share: the transaction's session."""

    session: Session


def serialise(session: Session, subject: str) -> None:
    """Make transactions that name the same ``subject`` take turns from here until this one
    ends: for a rule that counts and then writes (a limit), where nothing may be locked
    yet (no row exists when nothing was counted, so ``FOR UPDATE`` cannot help).

    SQLite needs nothing: ``BEGIN IMMEDIATE`` (storage/db.py) runs one writing transaction
    at a time. PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of the
    subject (a collision only makes two unrelated subjects take turns)."""
    if is_postgresql(session):
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:subject, 0))"),
            {"subject": f"veilig:{subject}"},
        )


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def update_row(
    session: Session,
    row_type: type[SQLModel],
    key: object,
    entity: Any,
    keep: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Copy a dataclass's fields onto its existing row (but those in ``keep``)."""
    row = session.get(row_type, key)
    if row is None:
        raise KeyError(key)
    for name, value in asdict(entity).items():
        if name not in keep:
            setattr(row, name, value)
    session.add(row)
    session.flush()


def count_up(session: Session, table: Any, row_id: str, counter: str) -> int:
    """Add one to ``counter`` of the row ``row_id`` in the database itself (never a
    read-modify-write: racing writers each count) and read it back; 0 if no such row
    (an unknown id takes the same statements: core.lockout)."""
    column = getattr(table, counter)
    session.execute(update(table).where(col(table.id) == row_id).values({counter: column + 1}))
    found = session.exec(select(column).where(col(table.id) == row_id)).one_or_none()
    return int(found or 0)


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (``Session.execute`` gives a
    CursorResult for those, typed as the general Result)."""
    return cast(CursorResult[Any], result).rowcount


def staff_member(row: StaffRow) -> StaffMember:
    data = row.model_dump()
    data["role"] = Role(row.role)
    return StaffMember(**data)


def participant(row: ParticipantRow) -> Participant:
    data = row.model_dump()
    data["method"] = Method(row.method)
    data["verified_via"] = Method(row.verified_via) if row.verified_via else None
    return Participant(**data)


def conversation(row: ConversationRow) -> Conversation:
    data = row.model_dump()
    data["state"] = ConversationState(row.state)
    return Conversation(**data)


def challenge(row: ChallengeRow) -> Challenge:
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


def outbox_item(row: OutboxRow) -> OutboxItem:
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
        accepted_by=row.accepted_by,
    )
