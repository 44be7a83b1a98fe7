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
    public_key_mac: bytes = b""  # the public key pinned under the server secret (core.pins)
    id: str = field(default_factory=new_id)


@dataclass
class StaffMember:
    mailbox_id: str
    email: str
    key_wrap: bytes  # the mailbox private key under Argon2id(password) and the pepper
    totp_sealed: bytes  # the TOTP secret, sealed with the server secret
    created_at: datetime
    last_totp_step: int | None = None  # replay prevention: a step is accepted once
    failed_logins: int = 0  # in a row, since the last log-in (Policy.staff_lockout)
    locked_at: datetime | None = None  # locked after too many; until staff unlock it
    id: str = field(default_factory=new_id)


class Purpose(StrEnum):
    STARTER = "starter"  # e-mail code for the conversation starter
    OPEN = "open"  # SMS or e-mail code for a recipient opening a secure message


class Method(StrEnum):
    """How a recipient proves who they are before a message opens."""

    SMS = "sms"
    EMAIL = "email"


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
    last_message_at: datetime | None = None
    unread: bool = False  # an inbound message that no staff member opened yet
    id: str = field(default_factory=new_id)


@dataclass
class Participant:
    """An outside person in one conversation, without an account.

    Every message of the conversation has its content key wrapped under the
    participant's random thread key. The thread key rests wrapped twice: to the
    mailbox (so staff can add messages) and, per invitation, under a key that needs
    the invitation's reference *and* its server share (see :class:`Invitation`).
    Contact details are sealed with the server secret: the server must read the
    number to send an SMS while no staff member is present. The sealed record also
    holds the method and the conversation: the plain columns are for lists only.
    """

    conversation_id: str
    contact_sealed: bytes  # JSON: email, phone (E.164 or ""), name, method, conversation
    thread_key_wrapped: bytes  # HPKE to the mailbox
    method: Method
    created_at: datetime
    expires_at: datetime
    language: str = "nl"  # of the e-mails and SMS this person gets
    revoked_at: datetime | None = None
    opened_at: datetime | None = None
    verified_via: Method | None = None
    replied_at: datetime | None = None
    code_failures: int = 0  # wrong codes over all their codes (Policy.recipient_lockout)
    locked_at: datetime | None = None  # locked after too many; until staff unlock it
    id: str = field(default_factory=new_id)


@dataclass
class Invitation:
    """One notification with its reference. The reference is never stored, only its
    keyed tag (for lookup); the server share is released only after a verified code.
    The share is sealed bound to participant, conversation, method and ``expires_at``
    (core.labels.share_v2), and emptied when the person is revoked or the invitation
    has expired: then nothing in the database opens it any more."""

    participant_id: str
    reference_tag: str
    share_sealed: bytes  # b"": destroyed (revoked, expired, or its notice never went out)
    thread_key_wrap: bytes  # the thread key under HKDF(reference, share)
    created_at: datetime
    expires_at: datetime  # this reference's own: a later reply does not extend it
    notice_outbox_id: str | None = None  # the notification e-mail, for "notified"
    id: str = field(default_factory=new_id)


@dataclass
class ParticipantKey:
    """A message's content key wrapped under a participant's thread key."""

    message_id: str
    participant_id: str
    wrapped: bytes


@dataclass
class Message:
    conversation_id: str
    direction: Direction
    wrapped_key: bytes  # the content key, HPKE-wrapped to the mailbox
    created_at: datetime
    items: list[SealedItem] = field(default_factory=list)
    attachment_count: int = 0
    author_id: str | None = None  # the staff member, for outbound messages
    # 1: the content key bound to the message id only (homes before format 2);
    # 2: also to conversation, direction and author (core.labels.content_key_v2).
    binding_format: int = 2
    origin_mac: bytes = b""  # veilig stored it, as it says (core.pins)
    id: str = field(default_factory=new_id)


@dataclass
class LoginFailure:
    """A failed staff log-in, by a keyed tag of the typed address: known and unknown
    accounts are counted (and throttled) alike."""

    email_tag: str
    at: datetime
    id: str = field(default_factory=new_id)


@dataclass
class AuditEntry:
    """One line of the audit log; ``mac`` chains it to the line before (see core.audit)."""

    seq: int
    at: datetime
    actor: str
    action: str
    conversation_id: str | None
    detail: str
    mac: bytes


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
