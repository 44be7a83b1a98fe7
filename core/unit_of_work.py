"""The unit of work every record protocol shares, and the entities it adds; apart so the
record protocols (core.records) and the whole transaction (core.ports) both build on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core.models import (
    AuditEntry,
    Challenge,
    Conversation,
    Hold,
    Invitation,
    LoginFailure,
    Mailbox,
    MailboxRotation,
    Message,
    Organisation,
    OutboxItem,
    Participant,
    ParticipantKey,
    StaffInvitation,
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
    | Hold
    | StaffInvitation
    | MailboxRotation
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
