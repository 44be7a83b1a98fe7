"""SQLModel tables. Converters to and from the core's dataclasses live in ``repository``.

Columns hold ids, times, counters, keyed tags and ciphertext; never a subject, body,
file name, code or guest address in the clear.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Index, MetaData
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Column, Field, LargeBinary, SQLModel

# Stable constraint names, so Alembic migrations can address them (also on SQLite).
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: use core.clock")
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite
            return value.replace(tzinfo=UTC)
        # PostgreSQL answers in the session's time zone (the server's: a Dutch office's
        # is +01:00 or +02:00); the same instant, but UTC is what the core works in.
        return value.astimezone(UTC)


# A Field with its own Column, typed Any as sqlmodel's Field is: the annotation of the
# attribute it is assigned to says what the column holds.
def _time(**kw: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kw))


def _bytes() -> Any:
    return Field(sa_column=Column(LargeBinary(), nullable=False))


class OrganisationRow(SQLModel, table=True):
    __tablename__ = "organisation"
    id: str = Field(primary_key=True, max_length=36)
    name: str
    retention_days: int | None = None
    created_at: datetime = _time(nullable=False)


class MailboxRow(SQLModel, table=True):
    __tablename__ = "mailbox"
    id: str = Field(primary_key=True, max_length=36)
    organisation_id: str = Field(foreign_key="organisation.id", index=True)
    address: str
    public_key: bytes = _bytes()
    public_key_mac: bytes = _bytes()
    recovery_wrap: bytes = _bytes()
    created_at: datetime = _time(nullable=False)


class StaffRow(SQLModel, table=True):
    __tablename__ = "staff"
    id: str = Field(primary_key=True, max_length=36)
    mailbox_id: str = Field(foreign_key="mailbox.id", index=True)
    email: str = Field(unique=True)
    key_wrap: bytes = _bytes()
    totp_sealed: bytes = _bytes()
    last_totp_step: int | None = None
    failed_logins: int = 0
    locked_at: datetime | None = _time(nullable=True)
    created_at: datetime = _time(nullable=False)
    name: str = ""
    role: str = "staff"
    public_key: bytes = _bytes()
    mailbox_wrap: bytes = _bytes()
    pin: bytes = _bytes()
    enrolled_at: datetime | None = _time(nullable=True)
    last_login_at: datetime | None = _time(nullable=True)
    removed_at: datetime | None = _time(nullable=True)


class StaffInvitationRow(SQLModel, table=True):
    __tablename__ = "staff_invitation"
    id: str = Field(primary_key=True, max_length=36)
    staff_id: str = Field(foreign_key="staff.id", index=True)
    code_tag: str = Field(unique=True)
    wrap: bytes = _bytes()
    attempts: int = 0
    invited_by: str
    created_at: datetime = _time(nullable=False)
    expires_at: datetime = _time(nullable=False)


class MailboxRotationRow(SQLModel, table=True):
    __tablename__ = "mailbox_rotation"
    id: str = Field(primary_key=True, max_length=36)
    mailbox_id: str = Field(foreign_key="mailbox.id", unique=True)
    old_key_wrap: bytes = _bytes()
    started_by: str
    message_cursor: str = ""
    participant_cursor: str = ""
    messages_done: int = 0
    participants_done: int = 0
    damaged: int = 0
    started_at: datetime = _time(nullable=False)


class ChallengeRow(SQLModel, table=True):
    __tablename__ = "challenge"
    id: str = Field(primary_key=True, max_length=36)
    purpose: str
    destination_tag: str = Field(index=True)
    code_tag: bytes = _bytes()
    attempts: int = 0
    created_at: datetime = _time(nullable=False)
    expires_at: datetime = _time(nullable=False)
    consumed_at: datetime | None = _time(nullable=True)


class ConversationRow(SQLModel, table=True):
    __tablename__ = "conversation"
    __table_args__ = (
        # The inbox's views, each a range of an index in the order shown (newest first):
        # closed by state, mine and unassigned by assignee and state.
        Index("ix_conversation_state_last", "state", "last_message_at"),
        Index("ix_conversation_assignee_state_last", "assignee_id", "state", "last_message_at"),
    )
    id: str = Field(primary_key=True, max_length=36)
    mailbox_id: str = Field(foreign_key="mailbox.id", index=True)
    unread: bool = False
    subject_tag: str = Field(default="", index=True)
    state: str = Field(default="open", max_length=16)
    # A staff id, not a foreign key: a staff member who leaves gives their conversations
    # back (core.team.release), and the audit log keeps who handled what.
    assignee_id: str | None = Field(default=None, max_length=36)
    indexed_under: bytes = Field(sa_column=Column(LargeBinary(), nullable=False, index=True))
    # Sealed under a key of the mailbox key (core.heading): the inbox's row, one AES-GCM.
    heading: bytes = Field(default=b"", sa_column=Column(LargeBinary(), nullable=False))
    created_at: datetime = _time(nullable=False)
    last_message_at: datetime | None = _time(nullable=True, index=True)


class HoldRow(SQLModel, table=True):
    __tablename__ = "hold"
    conversation_id: str = Field(foreign_key="conversation.id", primary_key=True)
    reason_sealed: bytes = _bytes()
    placed_by: str
    placed_at: datetime = _time(nullable=False)


class SearchTokenRow(SQLModel, table=True):
    """One keyed token of a conversation's search index (core.search): an HMAC under a
    key only the mailbox key opens, never the word it stands for."""

    __tablename__ = "search_token"
    token: bytes = Field(sa_column=Column(LargeBinary(), primary_key=True))
    conversation_id: str = Field(
        foreign_key="conversation.id", primary_key=True, index=True, max_length=36
    )


class ParticipantRow(SQLModel, table=True):
    __tablename__ = "participant"
    id: str = Field(primary_key=True, max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    contact_sealed: bytes = _bytes()
    thread_key_wrapped: bytes = _bytes()
    method: str
    language: str = "nl"
    verified_via: str | None = None
    created_at: datetime = _time(nullable=False)
    expires_at: datetime = _time(nullable=False)
    revoked_at: datetime | None = _time(nullable=True)
    opened_at: datetime | None = _time(nullable=True)
    replied_at: datetime | None = _time(nullable=True)
    code_failures: int = 0
    locked_at: datetime | None = _time(nullable=True)


class InvitationRow(SQLModel, table=True):
    __tablename__ = "invitation"
    id: str = Field(primary_key=True, max_length=36)
    participant_id: str = Field(foreign_key="participant.id", index=True)
    reference_tag: str = Field(unique=True)
    share_sealed: bytes = _bytes()
    thread_key_wrap: bytes = _bytes()
    notice_outbox_id: str | None = Field(default=None, index=True)
    message_id: str | None = None
    created_at: datetime = _time(nullable=False)
    expires_at: datetime = _time(nullable=False)


class ParticipantKeyRow(SQLModel, table=True):
    __tablename__ = "participant_key"
    message_id: str = Field(foreign_key="message.id", primary_key=True)
    participant_id: str = Field(foreign_key="participant.id", primary_key=True)
    wrapped: bytes = _bytes()


class LoginFailureRow(SQLModel, table=True):
    __tablename__ = "login_failure"
    id: str = Field(primary_key=True, max_length=36)
    email_tag: str = Field(index=True)
    at: datetime = _time(nullable=False)


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"
    seq: int = Field(primary_key=True)
    actor: str
    action: str = Field(index=True)
    conversation_id: str | None = Field(default=None, index=True)
    detail: str = ""
    subject: str = Field(default="", index=True)
    client: str = ""
    outcome: str = ""
    version: int = 1
    mac: bytes = _bytes()
    at: datetime = _time(nullable=False)


class MessageRow(SQLModel, table=True):
    __tablename__ = "message"
    id: str = Field(primary_key=True, max_length=36)
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    direction: str
    wrapped_key: bytes = _bytes()
    attachment_count: int = 0
    author_id: str | None = None
    binding_format: int = 1
    origin_mac: bytes = _bytes()
    created_at: datetime = _time(nullable=False, index=True)


class MessageItemRow(SQLModel, table=True):
    __tablename__ = "message_item"
    message_id: str = Field(foreign_key="message.id", primary_key=True)
    role: str = Field(primary_key=True)
    position: int = Field(primary_key=True)
    blob_id: str
    sealed_size: int


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    id: str = Field(primary_key=True, max_length=36)
    channel: str
    sealed_payload: bytes = _bytes()
    status: str = Field(index=True)
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = _time(nullable=False)
    next_attempt_at: datetime = _time(nullable=False)
    sent_at: datetime | None = _time(nullable=True)
    accepted_by: str | None = None
