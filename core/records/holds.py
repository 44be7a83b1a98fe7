"""Conversations staff keep from the purge (implemented by storage.repository.holds)."""

from __future__ import annotations

from typing import Protocol

from core.models import Hold
from core.unit_of_work import UnitOfWork


class HoldRecords(UnitOfWork, Protocol):
    """Conversations staff keep from the purge (core.retention)."""

    def hold(self, conversation_id: str) -> Hold | None: ...

    def holds(self) -> list[Hold]: ...

    def remove_hold(self, conversation_id: str) -> None: ...
