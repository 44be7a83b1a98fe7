"""A mailbox key rotation under way, and the wrapped keys it re-wraps (implemented by
storage.repository.rotation)."""

from __future__ import annotations

from typing import Protocol

from core.models import MailboxRotation, Message, Participant
from core.unit_of_work import UnitOfWork


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
