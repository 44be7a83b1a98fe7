"""The chained audit log and how to ask it for entries (implemented by
storage.repository.audit)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.models import AuditEntry
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
