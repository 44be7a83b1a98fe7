"""Outside people in conversations, their invitations and their wrapped keys
(implemented by storage.repository.participants)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.models import Invitation, Participant
from core.unit_of_work import UnitOfWork


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
