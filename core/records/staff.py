"""The organisation, its mailbox, its staff, their invitations and failed log-ins
(implemented by storage.repository.staff)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.models import Mailbox, Organisation, StaffInvitation, StaffMember
from core.unit_of_work import UnitOfWork


class StaffRecords(UnitOfWork, Protocol):
    """The organisation, its mailbox, its staff, their invitations and failed log-ins."""

    def organisation(self) -> Organisation | None: ...

    def mailbox(self) -> Mailbox | None: ...

    def save_mailbox(self, mailbox: Mailbox) -> None: ...

    def staff_by_email(self, email: str) -> StaffMember | None: ...

    def staff(self, staff_id: str) -> StaffMember | None: ...

    def all_staff(self) -> list[StaffMember]:
        """Everyone, removed members too, oldest first."""
        ...

    def staff_invitation_by_tag(self, code_tag: str) -> StaffInvitation | None: ...

    def staff_invitations(self) -> list[StaffInvitation]:
        """Every invitation not used or destroyed yet (expired ones too), oldest first."""
        ...

    def destroy_staff_invitation(self, invitation_id: str) -> bool:
        """Delete the invitation (and its wrap); False when it was gone already: of two
        enrolments racing for one invitation, only one gets True."""
        ...

    def destroy_staff_invitations(self, staff_id: str) -> int:
        """Delete every invitation of the staff member; how many."""
        ...

    def count_staff_invitation_failure(self, invitation_id: str) -> int:
        """Atomically add one wrong hand-over code to the invitation; the new count."""
        ...

    def save_staff(self, staff: StaffMember) -> None: ...

    def staff_by_ids(self, staff_ids: list[str]) -> dict[str, StaffMember]:
        """Staff id -> staff member, for those of ``staff_ids`` that exist."""
        ...

    def count_failed_login(self, staff_id: str) -> int:
        """Atomically add one to the staff member's failed log-ins in a row; the new count
        (0, and nothing written, for an id that is no staff member's)."""
        ...

    def lock_for_login(self, email_tag: str) -> None:
        """Until this transaction ends, others that lock the same typed address wait: the
        throttle counts and then records, and two log-ins must not both count room."""
        ...

    def count_login_failures(self, email_tag: str, since: datetime) -> int: ...

    def advance_totp_step(self, staff_id: str, step: int) -> bool:
        """Atomically record ``step`` as the staff member's last TOTP step if it is newer
        than the one recorded; False if it is not (a replay, or a racing log-in won)."""
        ...

    def lock_staff(self, staff_id: str, at: datetime) -> bool:
        """Atomically lock the account if it is not locked yet; False if it already was."""
        ...

    def clear_login_failures(self, email_tag: str) -> None: ...

    def save_organisation(self, organisation: Organisation) -> None: ...
