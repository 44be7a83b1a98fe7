"""The chained audit log (``AuditRecords``)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import col, select

from core.models import AuditEntry
from core.ports import AuditQuery
from storage.repository.rows import SessionBound, serialise
from storage.tables import AuditRow, ConversationRow


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

    def audit_find(self, query: AuditQuery) -> list[AuditEntry]:
        found = select(AuditRow)
        if query.conversation_id is not None:
            found = found.where(AuditRow.conversation_id == query.conversation_id)
        if query.subjects:
            found = found.where(col(AuditRow.subject).in_(sorted(query.subjects)))
        if query.actor is not None:
            found = found.where(AuditRow.actor == query.actor)
        if query.action is not None:
            found = found.where(AuditRow.action == query.action)
        if query.since is not None:
            found = found.where(col(AuditRow.at) >= query.since)
        if query.until is not None:
            found = found.where(col(AuditRow.at) < query.until)
        if query.limit is not None:
            newest = found.order_by(col(AuditRow.seq).desc()).limit(query.limit)
            rows = list(reversed(self.session.exec(newest).all()))
        else:
            rows = list(self.session.exec(found.order_by(col(AuditRow.seq))).all())
        return [AuditEntry(**row.model_dump()) for row in rows]

    def audit_last(self, action: str) -> AuditEntry | None:
        row = self.session.exec(
            select(AuditRow)
            .where(AuditRow.action == action)
            .order_by(col(AuditRow.seq).desc())
            .limit(1)
        ).first()
        return AuditEntry(**row.model_dump()) if row else None

    def conversation_subject(self, conversation_id: str) -> str:
        tag = self.session.exec(
            select(ConversationRow.subject_tag).where(ConversationRow.id == conversation_id)
        ).first()
        return tag or ""
