"""What the core needs from storage: a repository with transactions, and a blob store.

``storage`` implements these; tests could implement them too. One small protocol per
aggregate (staff, conversations, participants, challenges, outbox, audit); a
:class:`Transaction` is all of them at once, and a service that needs only one asks
for only that one (``CodeIssuer`` takes :class:`ChallengeRecords`). Keeping them small
keeps SQL out of the core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import BinaryIO, Protocol

from core.models import (
    AuditEntry,
    Challenge,
    Channel,
    Conversation,
    Invitation,
    LoginFailure,
    Mailbox,
    Message,
    Organisation,
    OutboxItem,
    Participant,
    ParticipantKey,
    StaffMember,
)

Entity = (
    Organisation
    | Mailbox
    | StaffMember
    | Challenge
    | Conversation
    | Message
    | OutboxItem
    | Participant
    | Invitation
    | ParticipantKey
    | AuditEntry
    | LoginFailure
)


class UnitOfWork(Protocol):
    """One unit of work: everything in it commits together or not at all."""

    def add(self, entity: Entity) -> None: ...

    def before_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` last inside the transaction, just before it commits (in the
        order asked; not if the body raised). What it writes commits with the rest, and
        a lock it takes is the last one the transaction takes (core.audit chains its
        entries so: the chain's lock is never held while waiting for another)."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction committed (not if it rolled back).

        A callback that fails is logged and never raised: the transaction did commit,
        and its caller must not act as if it had not (core.store discards blobs only
        when the commit itself failed)."""
        ...


class StaffRecords(UnitOfWork, Protocol):
    """The organisation, its mailbox, its staff and their failed log-ins."""

    def organisation(self) -> Organisation | None: ...

    def mailbox(self) -> Mailbox | None: ...

    def save_mailbox(self, mailbox: Mailbox) -> None: ...

    def staff_by_email(self, email: str) -> StaffMember | None: ...

    def save_staff(self, staff: StaffMember) -> None: ...

    def count_failed_login(self, staff_id: str) -> int:
        """Atomically add one to the staff member's failed log-ins in a row; the new count."""
        ...

    def lock_for_login(self, email_tag: str) -> None:
        """Until this transaction ends, others that lock the same typed address wait: the
        throttle counts and then records, and two log-ins must not both count room."""
        ...

    def count_login_failures(self, email_tag: str, since: datetime) -> int: ...

    def advance_totp_step(self, staff_id: str, step: int) -> bool:
        """Atomically record ``step`` as the staff member's last TOTP step if it is newer
        than the one recorded; False if it is not (a replay, or a racing log-in won)."""
        ...

    def lock_staff(self, staff_id: str, at: datetime) -> bool:
        """Atomically lock the account if it is not locked yet; False if it already was."""
        ...

    def clear_login_failures(self, email_tag: str) -> None: ...


class ConversationRecords(UnitOfWork, Protocol):
    """Conversations and their messages (with the sealed items of each)."""

    def conversation(self, conversation_id: str) -> Conversation | None: ...

    def conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Newest activity first."""
        ...

    def save_conversation(self, conversation: Conversation) -> None: ...

    def messages_in(self, conversation_id: str) -> list[Message]:
        """Oldest first."""
        ...

    def messages_of(self, conversation_ids: list[str]) -> dict[str, list[Message]]:
        """``messages_in`` for a page of conversations at once (a few queries, not one
        per conversation); conversations without messages are left out."""
        ...

    def messages(self, limit: int = 50, offset: int = 0) -> list[Message]:
        """Newest first, across all conversations."""
        ...

    def blob_ids(self) -> set[str]:
        """Every blob id a stored message refers to."""
        ...


class ParticipantRecords(UnitOfWork, Protocol):
    """Outside people in conversations, their invitations and their wrapped keys."""

    def participant(self, participant_id: str) -> Participant | None: ...

    def participants_in(self, conversation_id: str) -> list[Participant]: ...

    def participants_of(self, conversation_ids: list[str]) -> dict[str, list[Participant]]:
        """``participants_in`` for a page of conversations at once."""
        ...

    def participants(self, limit: int = 50, offset: int = 0) -> list[Participant]:
        """Newest first (the desk's *Sent* view)."""
        ...

    def save_participant(self, participant: Participant) -> None: ...

    def invitation_by_tag(self, reference_tag: str) -> Invitation | None: ...

    def invitation(self, invitation_id: str) -> Invitation | None: ...

    def invitation_by_notice(self, outbox_id: str) -> Invitation | None:
        """The invitation whose notification e-mail is this outbox item, if any."""
        ...

    def destroy_shares(self, participant_id: str) -> int:
        """Empty the sealed share of every invitation of the participant; how many."""
        ...

    def destroy_share(self, invitation_id: str) -> None: ...

    def destroy_expired_shares(self, now: datetime) -> int:
        """Empty the shares of invitations expired at ``now``; how many."""
        ...

    def count_code_failure(self, participant_id: str) -> int:
        """Atomically add one to the participant's wrong codes; the new count."""
        ...

    def lock_participant(self, participant_id: str, at: datetime) -> bool:
        """Atomically lock the participant out if not locked yet; False if already."""
        ...

    def last_notified(self, participant_ids: list[str]) -> dict[str, datetime]:
        """When each participant's newest delivered notification went out, for a page
        at once; participants never notified yet are left out."""
        ...

    def participant_keys(self, participant_id: str) -> dict[str, bytes]:
        """Message id -> content key wrapped under the participant's thread key."""
        ...


class ChallengeRecords(UnitOfWork, Protocol):
    """One-time codes, known only by their keyed tags."""

    def challenge(self, challenge_id: str) -> Challenge | None: ...

    def lock_challenge(self, challenge_id: str) -> None:
        """Until this transaction ends, other checks of this code wait: the attempts and
        use read next are then the current ones, not a copy another check is changing."""
        ...

    def lock_for_destination(self, destination_tag: str) -> None:
        """Until this transaction ends, others that lock the same destination wait: codes
        per destination are counted, then issued, and two requests must not both fit."""
        ...

    def challenges_since(self, destination_tag: str, since: datetime) -> list[Challenge]: ...

    def count_failed_attempt(self, challenge_id: str) -> int:
        """Atomically add one failed attempt; returns the new count."""
        ...

    def consume_challenge(self, challenge_id: str, at: datetime) -> bool:
        """Atomically mark the code used; False if it already was (a racing verify)."""
        ...


class OutboxRecords(UnitOfWork, Protocol):
    """Queued e-mail and SMS (core.outbox)."""

    def due_outbox(self, now: datetime, limit: int) -> list[OutboxItem]: ...

    def count_pending_outbox(self) -> int: ...

    def retrying_outbox(self, limit: int) -> list[OutboxItem]:
        """Pending items that failed at least once, oldest first."""
        ...

    def lock_for_sms_budget(self) -> None:
        """Until this transaction ends, others that lock the SMS budget wait: text
        messages of the last hour are counted, then one is queued."""
        ...

    def outbox_queued_since(self, channel: Channel, since: datetime) -> list[datetime]:
        """When each item of ``channel`` queued at or after ``since`` was queued (any state)."""
        ...

    def claim_due_outbox(
        self, now: datetime, limit: int, lease_until: datetime
    ) -> list[OutboxItem]:
        """Atomically take up to ``limit`` items due at ``now``, oldest first, moving their
        next attempt to ``lease_until``: whatever one worker takes, no other worker takes
        (nor waits for) until the lease ends. Returns them as claimed."""
        ...

    def outbox_item(self, item_id: str) -> OutboxItem | None: ...

    def save_outbox(self, item: OutboxItem) -> None: ...


class AuditRecords(UnitOfWork, Protocol):
    """The chained audit log (core.audit)."""

    def lock_for_audit(self) -> None:
        """Until this transaction ends, others that append to the chain wait: each entry
        is numbered and chained from the one before, read just now."""
        ...

    def audit_tail(self) -> AuditEntry | None: ...

    def audit_entries(self) -> Iterator[AuditEntry]:
        """In sequence order."""
        ...


class Transaction(
    StaffRecords,
    ConversationRecords,
    ParticipantRecords,
    ChallengeRecords,
    OutboxRecords,
    AuditRecords,
    Protocol,
):
    """One unit of work over every aggregate."""


class Repository(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...


class BlobStore(Protocol):
    """Opaque encrypted blobs by id. Writes are atomic: a blob is whole or absent."""

    def create(self) -> AbstractContextManager[tuple[str, BinaryIO]]:
        """Yield a new blob id and a file to write; the blob exists only after a clean exit."""
        ...

    def open(self, blob_id: str) -> AbstractContextManager[BinaryIO]: ...

    def delete(self, blob_id: str) -> None: ...

    def ids(self) -> Iterator[str]: ...

    def sweep(self, keep: set[str], written_before: datetime) -> int:
        """Delete blobs not in ``keep``, and unfinished writes, last written before
        ``written_before``. Returns how many went."""
        ...
