"""Domain objects: plain dataclasses, apart from the SQL tables that store them.

Everything that would reveal content (subjects, bodies, file names, codes, the
guest's name and address) is absent here or present only as ciphertext or keyed tag.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Organisation:
    name: str
    created_at: datetime
    id: str = field(default_factory=new_id)


@dataclass
class Mailbox:
    organisation_id: str
    address: str
    public_key: bytes
    recovery_wrap: bytes  # the private key under the recovery key
    created_at: datetime
    id: str = field(default_factory=new_id)


@dataclass
class StaffMember:
    mailbox_id: str
    email: str
    key_wrap: bytes  # the mailbox private key under Argon2id(password)
    totp_sealed: bytes  # the TOTP secret, sealed with the server secret
    created_at: datetime
    last_totp_step: int | None = None  # replay prevention: a step is accepted once
    id: str = field(default_factory=new_id)


class Purpose(StrEnum):
    STARTER = "starter"  # e-mail code for the conversation starter


@dataclass
class Challenge:
    """One one-time code, known only by its keyed tag."""

    purpose: Purpose
    destination_tag: str  # keyed hash of the address or number: for limits, not lookup
    code_tag: bytes
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    consumed_at: datetime | None = None
    id: str = field(default_factory=new_id)


class Direction(StrEnum):
    INBOUND = "in"  # to the organisation
    OUTBOUND = "out"  # from the organisation


class ItemRole(StrEnum):
    META = "meta"  # sender, subject, attachment names and sizes (JSON)
    BODY = "body"
    ATTACHMENT = "attachment"


@dataclass
class SealedItem:
    role: ItemRole
    position: int
    blob_id: str
    sealed_size: int


@dataclass
class Conversation:
    mailbox_id: str
    created_at: datetime
    id: str = field(default_factory=new_id)


@dataclass
class Message:
    conversation_id: str
    direction: Direction
    wrapped_key: bytes  # the content key, HPKE-wrapped to the mailbox
    created_at: datetime
    items: list[SealedItem] = field(default_factory=list)
    attachment_count: int = 0
    id: str = field(default_factory=new_id)


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the policy's attempts


@dataclass
class OutboxItem:
    channel: Channel
    sealed_payload: bytes  # sealed with the server secret: codes rest encrypted too
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    status: DeliveryStatus = DeliveryStatus.PENDING
    last_error: str | None = None  # the error's kind only: never a payload
    sent_at: datetime | None = None
    id: str = field(default_factory=new_id)
