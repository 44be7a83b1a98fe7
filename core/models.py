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
    # How many days a conversation's content is kept after its last activity
    # (core.retention); None: the policy's default.
    retention_days: int | None = None
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


class Role(StrEnum):
    ADMIN = "admin"  # manages staff (add, remove, reset) and the mailbox key (rotate)
    STAFF = "staff"  # reads and answers everything in the mailbox


@dataclass
class StaffMember:
    """A member of the team. Their own hybrid key pair opens the mailbox key: the private
    half rests under their password (``key_wrap``), the mailbox private key is wrapped to
    the public half (``mailbox_wrap``), so an admin can hand a new mailbox key to everyone
    without their passwords (core.rotation). Invited and not yet enrolled, reset, or
    removed: no wrap, no public key, no TOTP secret (core.staff)."""

    mailbox_id: str
    email: str
    # Format 3: this person's own private key under Argon2id(password) and the pepper.
    # Before (homes from before staff lifecycle): the mailbox private key itself;
    # re-wrapped at the next log-in (core.login).
    key_wrap: bytes
    totp_sealed: bytes  # the TOTP secret, sealed with the server secret
    created_at: datetime
    last_totp_step: int | None = None  # replay prevention: a step is accepted once
    failed_logins: int = 0  # in a row, since the last log-in (Policy.staff_lockout)
    locked_at: datetime | None = None  # locked after too many; until staff unlock it
    name: str = ""
    role: Role = Role.STAFF
    public_key: bytes = b""  # their own public key (empty: not enrolled, or a wrap of before)
    mailbox_wrap: bytes = b""  # the mailbox private key, HPKE-wrapped to ``public_key``
    pin: bytes = b""  # role and public key, pinned under the server secret (core.staff)
    enrolled_at: datetime | None = None  # None: invited (or reset), not enrolled yet
    last_login_at: datetime | None = None
    removed_at: datetime | None = None  # removed: the row stays for the audit log's names
    id: str = field(default_factory=new_id)

    @property
    def active(self) -> bool:
        """Enrolled, not removed: holds a wrap of the mailbox key."""
        return self.removed_at is None and bool(self.key_wrap)


@dataclass
class StaffInvitation:
    """A newcomer's way to their first wrap of the mailbox key (core.enrolment).

    The mailbox private key rests here wrapped under a key derived from two codes and the
    server secret: the invitation code (only in the e-mail to the newcomer; stored only as
    a keyed tag, for lookup) and the hand-over code (only shown to the admin, who passes it
    on by phone or in person; stored nowhere). Single use, expiring, destroyed after
    ``attempts`` wrong hand-over codes."""

    staff_id: str
    code_tag: str  # keyed tag of the invitation code
    wrap: bytes  # the mailbox private key under HKDF(codes, pepper); b"": destroyed
    created_at: datetime
    expires_at: datetime
    invited_by: str  # the audit actor who made it ("staff:…", "recovery-key")
    attempts: int = 0  # wrong hand-over codes so far
    id: str = field(default_factory=new_id)


@dataclass
class MailboxRotation:
    """A mailbox key rotation under way (core.rotation): the old private key wrapped to
    the new public key, so whoever holds the new key reads what is not re-wrapped yet,
    and a killed rotation resumes. Deleted when every wrap is re-wrapped: with it the
    last copy of the old private key."""

    mailbox_id: str
    old_key_wrap: bytes  # the old private key, HPKE-wrapped to the new public key
    started_at: datetime
    started_by: str
    message_cursor: str = ""  # every message with a smaller id is re-wrapped
    participant_cursor: str = ""  # likewise for participants' thread keys
    messages_done: int = 0
    participants_done: int = 0
    damaged: int = 0  # wraps that opened with neither key (damaged before): left as they are
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


class ConversationState(StrEnum):
    """Whose move it is: the desk's (*open*), the outside person's (*waiting*), nobody's."""

    OPEN = "open"  # new, or an answer came from outside: the desk's turn
    WAITING = "waiting"  # the desk replied: waiting for them
    CLOSED = "closed"  # done; an answer from outside opens it again


class View(StrEnum):
    """The inbox's views of the conversations (core.desk.Desk.inbox)."""

    MINE = "mine"  # taken by me, not closed
    UNASSIGNED = "unassigned"  # taken by nobody, not closed
    ALL = "all"  # every conversation, closed ones too
    CLOSED = "closed"


@dataclass
class Conversation:
    mailbox_id: str
    created_at: datetime
    last_message_at: datetime | None = None
    unread: bool = False  # an inbound message that no staff member opened yet
    # Whom it is about: the outside person's pseudonym (core.audit.pseudonym), a keyed
    # tag of their address; what audit entries about this conversation name. "" in
    # conversations from before issue 18 until someone writes in them again.
    subject_tag: str = ""
    state: ConversationState = ConversationState.OPEN
    assignee_id: str | None = None  # the staff member who handles it (taken), if anyone
    # Which search key its index entries were made with (core.search.SearchKey.key_id);
    # b"": not indexed yet, or a message arrived since (the next desk indexes it).
    indexed_under: bytes = b""
    # Who wrote its first message and its subject, sealed under a key of the mailbox key
    # by the desk's index round (core.heading); b"": not yet, or that message would not open.
    heading: bytes = field(default=b"", repr=False)
    id: str = field(default_factory=new_id)


@dataclass
class Hold:
    """A conversation staff keep from the purge (core.retention), with why: the reason
    is staff's own words, which may name the person, so it rests sealed."""

    conversation_id: str
    reason_sealed: bytes  # sealed with the server secret, bound to the conversation
    placed_by: str  # the staff member's actor name
    placed_at: datetime


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
    message_id: str | None = None  # the message it announced (None: before issue 18)
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
    """One line of the audit log; ``mac`` chains it to the line before (see core.audit).

    The fields NEN 7513 asks for: who (``actor``), from which client or host
    (``client``), what (``action``, ``conversation_id``, ``detail``), about whom
    (``subject``: a pseudonym, never an address), when (``at``) and with what outcome
    (``outcome``). Entries of version 1 (before issue 18) have no subject, client or
    outcome, and their MAC does not cover them."""

    seq: int
    at: datetime
    actor: str
    action: str
    conversation_id: str | None
    detail: str
    mac: bytes
    subject: str = ""
    client: str = ""
    outcome: str = ""
    version: int = 1


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
    # Who took it: the SMTP server and its answer (a queue id), for proof of delivery.
    accepted_by: str | None = None
    id: str = field(default_factory=new_id)
