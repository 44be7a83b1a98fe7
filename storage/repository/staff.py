"""The organisation, its mailbox, its staff and their failed log-ins (``StaffRecords``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from core.models import Mailbox, Organisation, StaffMember
from storage.repository.rows import SessionBound, rowcount, serialise, update_row
from storage.tables import LoginFailureRow, MailboxRow, OrganisationRow, StaffRow


class StaffQueries(SessionBound):
    def organisation(self) -> Organisation | None:
        row = self.session.exec(select(OrganisationRow)).first()
        return Organisation(**row.model_dump()) if row else None

    def mailbox(self) -> Mailbox | None:
        row = self.session.exec(select(MailboxRow).order_by(col(MailboxRow.created_at))).first()
        return Mailbox(**row.model_dump()) if row else None

    def save_mailbox(self, mailbox: Mailbox) -> None:
        update_row(self.session, MailboxRow, mailbox.id, mailbox)

    def staff_by_email(self, email: str) -> StaffMember | None:
        row = self.session.exec(select(StaffRow).where(StaffRow.email == email)).first()
        return StaffMember(**row.model_dump()) if row else None

    def save_staff(self, staff: StaffMember) -> None:
        update_row(self.session, StaffRow, staff.id, staff)

    def count_failed_login(self, staff_id: str) -> int:
        self.session.execute(
            update(StaffRow)
            .where(col(StaffRow.id) == staff_id)
            .values(failed_logins=col(StaffRow.failed_logins) + 1)
        )
        return self.session.exec(
            select(StaffRow.failed_logins).where(StaffRow.id == staff_id)
        ).one()

    def lock_for_login(self, email_tag: str) -> None:
        serialise(self.session, f"login:{email_tag}")

    def advance_totp_step(self, staff_id: str, step: int) -> bool:
        # One conditional UPDATE: of two log-ins with one code only one sees rowcount 1
        # (PostgreSQL re-checks the WHERE once the first one's row lock is released).
        result = self.session.execute(
            update(StaffRow)
            .where(
                col(StaffRow.id) == staff_id,
                col(StaffRow.last_totp_step).is_(None) | (col(StaffRow.last_totp_step) < step),
            )
            .values(last_totp_step=step)
        )
        return rowcount(result) == 1

    def lock_staff(self, staff_id: str, at: datetime) -> bool:
        result = self.session.execute(
            update(StaffRow)
            .where(col(StaffRow.id) == staff_id, col(StaffRow.locked_at).is_(None))
            .values(locked_at=at)
        )
        return rowcount(result) == 1

    def count_login_failures(self, email_tag: str, since: datetime) -> int:
        return self.session.exec(
            select(func.count())
            .select_from(LoginFailureRow)
            .where(LoginFailureRow.email_tag == email_tag, col(LoginFailureRow.at) >= since)
        ).one()

    def clear_login_failures(self, email_tag: str) -> None:
        self.session.execute(
            delete(LoginFailureRow).where(col(LoginFailureRow.email_tag) == email_tag)
        )
