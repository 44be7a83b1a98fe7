"""One-time codes, known only by their keyed tags (implemented by
storage.repository.challenges)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.models import Challenge
from core.unit_of_work import UnitOfWork


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
