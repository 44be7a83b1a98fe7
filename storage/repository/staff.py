"""The organisation, its mailbox, its staff and their failed log-ins (``StaffRecords``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from core.models import Mailbox, Organisation, StaffMember
from storage.repository.rows import SessionBound, update_row
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
