"""SQLModel tables. Converters to and from the core's dataclasses live in ``repository``.

Columns hold ids, times, counters, keyed tags and ciphertext; never a subject, body,
file name, code or guest address in the clear.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData
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
    id: str = Field(primary_key=True, max_length=36)
    mailbox_id: str = Field(foreign_key="mailbox.id", index=True)
    unread: bool = False
    created_at: datetime = _time(nullable=False)
    last_message_at: datetime | None = _time(nullable=True, index=True)


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
    action: str
    conversation_id: str | None = None
    detail: str = ""
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
