"""One small protocol per aggregate (staff, conversations, holds, participants,
challenges, outbox, audit, rotation); apart from core.ports, which joins them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.models import (
    AuditEntry,
    Challenge,
    Channel,
    Conversation,
    ConversationState,
    Hold,
    Invitation,
    Mailbox,
    MailboxRotation,
    Message,
    Organisation,
    OutboxItem,
    Participant,
    StaffInvitation,
    StaffMember,
    View,
)
from core.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class AuditQuery:
    """Which audit entries to find; every field left empty matches all."""

    conversation_id: str | None = None
    subjects: frozenset[str] = frozenset()  # any of these pseudonyms
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before
    limit: int | None = None  # the newest this many (in sequence order all the same)


@dataclass
class PurgedRows:
    """What deleting one conversation's rows took with it (core.retention)."""

    blob_ids: list[str] = field(default_factory=list)  # to delete from the blob store
    messages: int = 0
    attachments: int = 0
    participants: int = 0
    wrapped_keys: int = 0  # content keys and thread keys wrapped to anyone


class StaffRecords(UnitOfWork, Protocol):
    """The organisation, its mailbox, its staff, their invitations and failed log-ins."""

    def organisation(self) -> Organisation | None: ...

    def mailbox(self) -> Mailbox | None: ...

    def save_mailbox(self, mailbox: Mailbox) -> None: ...

    def staff_by_email(self, email: str) -> StaffMember | None: ...

    def staff(self, staff_id: str) -> StaffMember | None: ...

    def all_staff(self) -> list[StaffMember]:
        """Everyone, removed members too, oldest first."""
        ...

    def staff_invitation_by_tag(self, code_tag: str) -> StaffInvitation | None: ...

    def staff_invitations(self) -> list[StaffInvitation]:
        """Every invitation not used or destroyed yet (expired ones too), oldest first."""
        ...

    def destroy_staff_invitation(self, invitation_id: str) -> bool:
        """Delete the invitation (and its wrap); False when it was gone already: of two
        enrolments racing for one invitation, only one gets True."""
        ...

    def destroy_staff_invitations(self, staff_id: str) -> int:
        """Delete every invitation of the staff member; how many."""
        ...

    def count_staff_invitation_failure(self, invitation_id: str) -> int:
        """Atomically add one wrong hand-over code to the invitation; the new count."""
        ...

    def save_staff(self, staff: StaffMember) -> None: ...

    def staff_by_ids(self, staff_ids: list[str]) -> dict[str, StaffMember]:
        """Staff id -> staff member, for those of ``staff_ids`` that exist."""
        ...

    def count_failed_login(self, staff_id: str) -> int:
        """Atomically add one to the staff member's failed log-ins in a row; the new count
        (0, and nothing written, for an id that is no staff member's)."""
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

    def save_organisation(self, organisation: Organisation) -> None: ...


class ConversationRecords(UnitOfWork, Protocol):
    """Conversations and their messages (with the sealed items of each)."""

    def conversation(self, conversation_id: str) -> Conversation | None: ...

    def conversations(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        view: View = View.ALL,
        staff_id: str | None = None,
    ) -> list[Conversation]:
        """Newest activity first, of ``view`` (MINE: taken by ``staff_id``)."""
        ...

    def save_conversation(self, conversation: Conversation) -> None: ...

    def assign_conversation(
        self, conversation_id: str, staff_id: str | None, *, expected: str | None
    ) -> bool:
        """Atomically hand the conversation to ``staff_id`` if ``expected`` handles it now
        (None: nobody); False if someone else does (a colleague was quicker)."""
        ...

    def set_conversation_state(self, conversation_id: str, state: ConversationState) -> None: ...

    def release_conversations(self, staff_id: str) -> int:
        """Unassign every conversation ``staff_id`` handles and has not closed; how many."""
        ...

    # --- the search index (core.search) ---

    def search_conversations(
        self, groups: list[list[bytes]], limit: int = 50, offset: int = 0
    ) -> list[Conversation]:
        """The conversations holding a token of every group, newest activity first."""
        ...

    def tokens_present(self, tokens: list[bytes]) -> set[bytes]:
        """Those of ``tokens`` that any conversation holds."""
        ...

    def conversations_to_index(self, key_id: bytes, limit: int) -> list[Conversation]:
        """Conversations not indexed under ``key_id`` (new, changed, or another key's)."""
        ...

    def index_conversation(
        self, conversation_id: str, tokens: set[bytes], key_id: bytes, seen: datetime | None
    ) -> bool:
        """Replace the conversation's tokens and mark it indexed under ``key_id``, if its
        last message is still the one at ``seen``; else leave it marked for next time."""
        ...

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

    def message(self, message_id: str) -> Message | None: ...

    def ids_starting(self, prefix: str, limit: int = 5) -> list[tuple[str, str]]:
        """(kind, id) of messages and conversations whose id starts with ``prefix``;
        kind is "message" or "conversation"."""
        ...

    def conversations_about(self, subject_tag: str) -> list[Conversation]:
        """Conversations whose person has this pseudonym, oldest first."""
        ...

    def untagged_conversations(self) -> list[Conversation]:
        """Conversations from before issue 18, whose person is not named by a tag."""
        ...

    def inactive_conversations(
        self, before: datetime, limit: int, offset: int = 0
    ) -> list[Conversation]:
        """Conversations whose last message (or creation) is before ``before``, oldest
        first: the candidates of the purge, which checks expiries and holds itself."""
        ...

    def delete_conversation(self, conversation_id: str) -> PurgedRows:
        """Delete the conversation with its messages, their items, its participants,
        their invitations (and those notices' outbox rows) and every wrapped key."""
        ...


class HoldRecords(UnitOfWork, Protocol):
    """Conversations staff keep from the purge (core.retention)."""

    def hold(self, conversation_id: str) -> Hold | None: ...

    def holds(self) -> list[Hold]: ...

    def remove_hold(self, conversation_id: str) -> None: ...


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

    def readers_of(self, message_id: str) -> list[Participant]:
        """The participants a message's content key is wrapped for."""
        ...

    def invitations_of(self, participant_id: str) -> list[Invitation]:
        """Oldest first."""
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

    def delete_old_records(self, before: datetime) -> int:
        """Delete what only served limits or deliveries: codes that expired, failed
        log-ins and outbox rows that are delivered or given up, all before ``before``;
        how many rows."""
        ...


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

    def audit_find(self, query: AuditQuery) -> list[AuditEntry]:
        """The entries ``query`` matches, in sequence order."""
        ...

    def audit_last(self, action: str) -> AuditEntry | None:
        """The newest entry of ``action``."""
        ...

    def conversation_subject(self, conversation_id: str) -> str:
        """The pseudonym of the conversation's person ("" if none is known)."""
        ...


class RotationRecords(UnitOfWork, Protocol):
    """A mailbox key rotation under way, and the wrapped keys it re-wraps (core.rotation)."""

    def rotation(self) -> MailboxRotation | None: ...

    def save_rotation(self, rotation: MailboxRotation) -> None: ...

    def delete_rotation(self, rotation_id: str) -> None: ...

    def count_messages(self) -> int: ...

    def count_participants(self) -> int: ...

    def message_keys_after(self, cursor: str, limit: int) -> list[Message]:
        """Up to ``limit`` messages with an id after ``cursor``, in id order, without
        their items (what a rotation reads: the wrapped key and what it is bound to)."""
        ...

    def rewrap_messages(self, wraps: list[tuple[str, bytes, bytes]]) -> None:
        """Set (message id, wrapped key, origin tag) for each, in one statement."""
        ...

    def participants_after(self, cursor: str, limit: int) -> list[Participant]:
        """Up to ``limit`` participants with an id after ``cursor``, in id order."""
        ...

    def rewrap_participants(self, wraps: list[tuple[str, bytes]]) -> None:
        """Set (participant id, wrapped thread key) for each, in one statement."""
        ...
