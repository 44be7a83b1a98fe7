"""What the core needs from storage: a repository with transactions, and a blob store.

``storage`` implements these; tests could implement them too. One small protocol per
aggregate (staff, conversations, search, holds, participants, challenges, outbox, audit,
rotation), a module each in ``core.records``, as ``storage.repository`` implements them; a
:class:`Transaction` is all of them at once, and a service that needs only one asks
for only that one (``CodeIssuer`` takes :class:`ChallengeRecords`). Keeping them small
keeps SQL out of the core.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import BinaryIO, Protocol

from core.records.audit import AuditQuery, AuditRecords
from core.records.challenges import ChallengeRecords
from core.records.conversations import ConversationRecords, PurgedRows
from core.records.holds import HoldRecords
from core.records.outbox import OutboxRecords
from core.records.participants import ParticipantRecords
from core.records.rotation import RotationRecords
from core.records.search import SearchRecords
from core.records.staff import StaffRecords
from core.unit_of_work import Entity, UnitOfWork

__all__ = [
    "AuditQuery",
    "AuditRecords",
    "BlobStore",
    "ChallengeRecords",
    "ConversationRecords",
    "Entity",
    "HoldRecords",
    "OutboxRecords",
    "ParticipantRecords",
    "PurgedRows",
    "Repository",
    "RotationRecords",
    "SearchRecords",
    "StaffRecords",
    "Transaction",
    "UnitOfWork",
]


class Transaction(
    StaffRecords,
    ConversationRecords,
    SearchRecords,
    ParticipantRecords,
    ChallengeRecords,
    OutboxRecords,
    AuditRecords,
    HoldRecords,
    RotationRecords,
    Protocol,
):
    """One unit of work over every aggregate."""


class Repository(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...

    def forget_deleted(self) -> bool:
        """After a purge: leave no copy of deleted rows in the database's own files
        (SQLite: deleted content is zeroed as it goes, then the write-ahead log is
        checkpointed and truncated). False when that could not finish now (readers
        kept it busy): the next purge tries again."""

    def scrub(self) -> None:
        """Leave no copy of deleted or overwritten rows in the database's files, as far as
        the database allows (after a wrap is destroyed: core.staff, core.rotation)."""
        ...


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
