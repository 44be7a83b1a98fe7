"""Conversations kept from the purge (``HoldRecords``)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col, select

from core.models import Hold
from storage.repository.rows import SessionBound
from storage.tables import HoldRow


class HoldQueries(SessionBound):
    def hold(self, conversation_id: str) -> Hold | None:
        row = self.session.get(HoldRow, conversation_id)
        return Hold(**row.model_dump()) if row else None

    def holds(self) -> list[Hold]:
        rows = self.session.exec(select(HoldRow).order_by(col(HoldRow.placed_at))).all()
        return [Hold(**r.model_dump()) for r in rows]

    def remove_hold(self, conversation_id: str) -> None:
        self.session.execute(delete(HoldRow).where(col(HoldRow.conversation_id) == conversation_id))
