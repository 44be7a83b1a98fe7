"""One-time codes, known only by their keyed tags (``ChallengeRecords``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from core.models import Challenge
from storage.repository import rows
from storage.repository.rows import SessionBound, count_up, is_postgresql, rowcount, serialise
from storage.tables import ChallengeRow


class ChallengeQueries(SessionBound):
    def challenge(self, challenge_id: str) -> Challenge | None:
        row = self.session.get(ChallengeRow, challenge_id)
        return rows.challenge(row) if row else None

    def lock_challenge(self, challenge_id: str) -> None:
        # SQLite: its write lock already serialises the checks.
        if is_postgresql(self.session):
            self.session.execute(
                select(ChallengeRow.id).where(ChallengeRow.id == challenge_id).with_for_update()
            )

    def lock_for_destination(self, destination_tag: str) -> None:
        serialise(self.session, f"codes:{destination_tag}")

    def challenges_since(self, destination_tag: str, since: datetime) -> list[Challenge]:
        found = self.session.exec(
            select(ChallengeRow).where(
                ChallengeRow.destination_tag == destination_tag,
                col(ChallengeRow.created_at) >= since,
            )
        )
        return [rows.challenge(r) for r in found]

    def count_failed_attempt(self, challenge_id: str) -> int:
        return count_up(self.session, ChallengeRow, challenge_id, "attempts")

    def consume_challenge(self, challenge_id: str, at: datetime) -> bool:
        # One conditional UPDATE: of two racing verifications only one sees rowcount 1.
        result = self.session.execute(
            update(ChallengeRow)
            .where(col(ChallengeRow.id) == challenge_id, col(ChallengeRow.consumed_at).is_(None))
            .values(consumed_at=at)
        )
        return rowcount(result) == 1
