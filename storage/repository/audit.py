"""The chained audit log (``AuditRecords``)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import col, select

from core.models import AuditEntry
from storage.repository.rows import SessionBound, serialise
from storage.tables import AuditRow


class AuditQueries(SessionBound):
    def lock_for_audit(self) -> None:
        serialise(self.session, "audit")

    def audit_tail(self) -> AuditEntry | None:
        # LIMIT 1: without it the ORM loads the whole log to return its first row, and
        # every append grew slower with the log (docs/PERFORMANCE.md, fan-out).
        row = self.session.exec(
            select(AuditRow).order_by(col(AuditRow.seq).desc()).limit(1)
        ).first()
        return AuditEntry(**row.model_dump()) if row else None

    def audit_entries(self) -> Iterator[AuditEntry]:
        for row in self.session.exec(select(AuditRow).order_by(col(AuditRow.seq))):
            yield AuditEntry(**row.model_dump())
