"""The organisation, its mailbox, its staff, their invitations and failed log-ins
(``StaffRecords``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from core.models import Mailbox, Organisation, StaffInvitation, StaffMember
from storage.repository.rows import (
    SessionBound,
    count_up,
    rowcount,
    serialise,
    staff_member,
    update_row,
)
from storage.tables import (
    LoginFailureRow,
    MailboxRow,
    OrganisationRow,
    StaffInvitationRow,
    StaffRow,
)


class StaffQueries(SessionBound):
    def organisation(self) -> Organisation | None:
        row = self.session.exec(select(OrganisationRow)).first()
        return Organisation(**row.model_dump()) if row else None

    def mailbox(self) -> Mailbox | None:
        row = self.session.exec(select(MailboxRow).order_by(col(MailboxRow.created_at))).first()
        return Mailbox(**row.model_dump()) if row else None

    def save_organisation(self, organisation: Organisation) -> None:
        update_row(self.session, OrganisationRow, organisation.id, organisation)

    def save_mailbox(self, mailbox: Mailbox) -> None:
        update_row(self.session, MailboxRow, mailbox.id, mailbox)

    def staff_by_email(self, email: str) -> StaffMember | None:
        row = self.session.exec(select(StaffRow).where(StaffRow.email == email)).first()
        return staff_member(row) if row else None

    def staff(self, staff_id: str) -> StaffMember | None:
        row = self.session.get(StaffRow, staff_id)
        return staff_member(row) if row else None

    def all_staff(self) -> list[StaffMember]:
        rows = self.session.exec(
            select(StaffRow).order_by(col(StaffRow.created_at), col(StaffRow.email))
        ).all()
        return [staff_member(r) for r in rows]

    def staff_invitation_by_tag(self, code_tag: str) -> StaffInvitation | None:
        row = self.session.exec(
            select(StaffInvitationRow).where(StaffInvitationRow.code_tag == code_tag)
        ).first()
        return StaffInvitation(**row.model_dump()) if row else None

    def staff_invitations(self) -> list[StaffInvitation]:
        rows = self.session.exec(
            select(StaffInvitationRow).order_by(col(StaffInvitationRow.created_at))
        ).all()
        return [StaffInvitation(**r.model_dump()) for r in rows]

    def destroy_staff_invitation(self, invitation_id: str) -> bool:
        result = self.session.execute(
            delete(StaffInvitationRow).where(col(StaffInvitationRow.id) == invitation_id)
        )
        return rowcount(result) > 0

    def destroy_staff_invitations(self, staff_id: str) -> int:
        result = self.session.execute(
            delete(StaffInvitationRow).where(col(StaffInvitationRow.staff_id) == staff_id)
        )
        return rowcount(result)

    def count_staff_invitation_failure(self, invitation_id: str) -> int:
        return count_up(self.session, StaffInvitationRow, invitation_id, "attempts")

    def save_staff(self, staff: StaffMember) -> None:
        update_row(self.session, StaffRow, staff.id, staff)

    def staff_by_ids(self, staff_ids: list[str]) -> dict[str, StaffMember]:
        if not staff_ids:
            return {}
        found = self.session.exec(select(StaffRow).where(col(StaffRow.id).in_(staff_ids))).all()
        return {row.id: staff_member(row) for row in found}

    def count_failed_login(self, staff_id: str) -> int:
        return count_up(self.session, StaffRow, staff_id, "failed_logins")

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
