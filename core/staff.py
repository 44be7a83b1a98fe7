"""The team: admins add, remove and reset staff; everyone changes their own password.

Roles: an *admin* manages staff and the mailbox key (core.rotation); *staff* read and
answer. ``veilig init`` makes the first admin; an existing home's staff became admins
in the upgrade. What an admin does needs their password and TOTP (:func:`authorise`):
inviting hands on the mailbox key, which only an unlocked session holds; removing and
resetting take someone's access away. The role is pinned under the server secret with
the person's own public key (core.pins): a role flipped in the database makes nobody
an admin.

What stops working when:

- **removed**: their wrap, own key, wrap of the mailbox key and TOTP secret are deleted
  at once (the row stays, without them, for the names in the audit log); an open desk
  of theirs drops the key at its next action (core.session). Their SSH keys are the
  command line's to delete (they live in a file of the home: tui.ssh.keys).
- **reset** (lost phone or password): the same, and a new invitation (core.enrolment).
- **password changed**: a new own key pair under the new password; the old wrap is
  gone, and an open desk of theirs with the old one must log in again.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core import team
from core.audit import Action
from core.contact import check_email
from core.context import Context, require_organisation
from core.enrolment import Invited, destroy_expired_invitations, invite
from core.errors import CannotOpen, InvalidInput, LoginFailed, NotAllowed, RateLimited
from core.i18n import _
from core.keys import MailboxPrivateKey, Password, RotatingMailboxKey
from core.lockout import note_failed_login
from core.login import log_in
from core.models import LoginFailure, Role, StaffMember
from core.pins import is_staff_pinned, pin_staff
from core.ports import StaffRecords
from core.rotation import Finished, Progress, Started, run, start
from core.setup import check_password
from core.staff_keys import give_keys, open_mailbox_key, take_keys

MAX_NAME = 100


def check_name(name: str) -> str:
    """A staff member's name as the admin typed it: one line, not too long."""
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise InvalidInput(_("A name has at most {n} characters.").format(n=MAX_NAME))
    return name


def is_admin(ctx: Context, staff: StaffMember) -> bool:
    return staff.role is Role.ADMIN and staff.active and is_staff_pinned(ctx.secret, staff)


@dataclass(frozen=True)
class StaffListing:
    """One line of ``veilig staff list``."""

    email: str
    name: str
    role: Role
    enrolled_at: datetime | None
    invited_until: datetime | None  # a pending invitation
    last_login_at: datetime | None
    locked: bool


def listing(ctx: Context) -> list[StaffListing]:
    """Everyone who is staff (not removed), with their state; expired invitations go."""
    with ctx.repo.transaction() as tx:
        destroy_expired_invitations(ctx, tx)
        pending = {i.staff_id: i.expires_at for i in tx.staff_invitations()}
        members = [s for s in tx.all_staff() if s.removed_at is None]
    return [
        StaffListing(
            email=s.email,
            name=s.name,
            role=s.role,
            enrolled_at=s.enrolled_at if s.active else None,
            invited_until=pending.get(s.id),
            last_login_at=s.last_login_at,
            locked=s.locked_at is not None,
        )
        for s in members
    ]


class Admin:
    """An admin who proved themselves with password and TOTP, for one command."""

    def __init__(self, ctx: Context, staff: StaffMember, key: MailboxPrivateKey) -> None:
        self.ctx = ctx
        self.staff = staff
        self._key = key

    @property
    def actor(self) -> str:
        return f"staff:{self.staff.email}"

    def add(self, email: str, name: str, role: Role = Role.STAFF) -> Invited:
        """A new member of the team, invited. An address that was removed before comes
        back as a new member; one that is staff now is refused (reset it instead)."""
        email = check_email(email).casefold()
        name = check_name(name)
        with self.ctx.repo.transaction() as tx:
            _org, mailbox = require_organisation(tx)
            staff = tx.staff_by_email(email)
            if staff is not None and staff.removed_at is None:
                raise InvalidInput(
                    _("{email} is already on the team. To send a new invitation: reset.").format(
                        email=email
                    )
                )
            staff = to_be_invited(self.ctx, tx, staff, mailbox.id, email, name, role)
            return invite(self.ctx, tx, staff=staff, mailbox_key=self._key, actor=self.actor)

    def remove(self, email: str) -> StaffMember:
        """Their access, gone (see the module's docstring)."""
        with self.ctx.repo.transaction() as tx:
            staff = self._member(tx, email)
            if staff.role is Role.ADMIN and self._last_admin(tx, staff):
                raise InvalidInput(
                    _(
                        "{email} is the last admin. Add another admin first, or keep the "
                        "recovery key at hand (veilig recover)."
                    ).format(email=staff.email)
                )
            tx.destroy_staff_invitations(staff.id)
            take_keys(staff, self.ctx.secret)
            staff.removed_at = self.ctx.clock()
            tx.save_staff(staff)
            # What they handled goes back to the team, unassigned (core.team).
            released = team.release(tx, staff.id)
            detail = f"{_whom(staff)} released={released}"
            self.ctx.audit.append(tx, self.actor, Action.STAFF_REMOVED, detail=detail)
        self.ctx.repo.scrub()
        return staff

    def reset(self, email: str) -> Invited:
        """Lost phone or password: their wrap and TOTP secret gone, a new invitation."""
        with self.ctx.repo.transaction() as tx:
            staff = self._member(tx, email)
            take_keys(staff, self.ctx.secret)
            staff.failed_logins, staff.locked_at = 0, None
            tx.save_staff(staff)
            self.ctx.audit.append(tx, self.actor, Action.STAFF_RESET, detail=_whom(staff))
            invited = invite(self.ctx, tx, staff=staff, mailbox_key=self._key, actor=self.actor)
        self.ctx.repo.scrub()
        return invited

    @property
    def rotating(self) -> bool:
        """A rotation of the mailbox key is under way (this admin's key is the new one)."""
        return isinstance(self._key, RotatingMailboxKey)

    def rotate(self, show: Callable[[Started], None], progress: Progress | None = None) -> Finished:
        """A new mailbox key (core.rotation), or the rotation under way finished."""
        key = self._key
        if not isinstance(key, RotatingMailboxKey):
            key = start(self.ctx, key, self.actor, show)
        return run(self.ctx, key, self.actor, progress)

    def _member(self, tx: StaffRecords, email: str) -> StaffMember:
        staff = tx.staff_by_email(email.strip().casefold())
        if staff is None or staff.removed_at is not None:
            raise InvalidInput(_("There is no staff member {email}.").format(email=email))
        return staff

    def _last_admin(self, tx: StaffRecords, leaving: StaffMember) -> bool:
        others = [
            s
            for s in tx.all_staff()
            if s.id != leaving.id and s.removed_at is None and s.role is Role.ADMIN
        ]
        return not others


def to_be_invited(
    ctx: Context,
    tx: StaffRecords,
    staff: StaffMember | None,
    mailbox_id: str,
    email: str,
    name: str,
    role: Role,
) -> StaffMember:
    """A row for someone about to be invited, stored in ``tx``: a new one, or ``staff``
    again (removed, or reset by the recovery key) with ``role``, without any key."""
    if staff is None:
        staff = StaffMember(
            mailbox_id=mailbox_id,
            email=email,
            key_wrap=b"",
            totp_sealed=b"",
            created_at=ctx.clock(),
            name=name,
            role=role,
        )
        pin_staff(ctx.secret, staff)
        tx.add(staff)
        return staff
    staff.name, staff.role, staff.removed_at = name or staff.name, role, None
    staff.failed_logins, staff.locked_at = 0, None
    take_keys(staff, ctx.secret)  # pins the role too
    tx.save_staff(staff)
    return staff


def _whom(staff: StaffMember) -> str:
    return f"staff:{staff.email}"


def authorise(ctx: Context, email: str, password: str, totp_code: str) -> Admin:
    """An admin's log-in for one command (core.login: throttled, audited, each TOTP code
    once); :class:`NotAllowed` when the account is staff, not admin (audited too)."""
    staff, key = log_in(ctx, email, password, totp_code)
    if not is_admin(ctx, staff):
        with ctx.repo.transaction() as tx:
            ctx.audit.append(tx, _whom(staff), Action.STAFF_NOT_ADMIN)
        raise NotAllowed(_("Only an admin can do this."))
    return Admin(ctx, staff, key)


def change_password(ctx: Context, staff: StaffMember, current: str, new: str) -> StaffMember:
    """A staff member's own new password (from the desk). The current one is asked again
    and a wrong one counts as a failed log-in (throttled, towards the lockout): an
    unattended open desk must not let someone take over the account. Returns the row
    with its new wrap; the old password opens nothing any more."""
    tag = ctx.secret.tag("login", staff.email).hex()
    now = ctx.clock()
    since = now - ctx.policy.login_failure_window
    with ctx.repo.transaction() as tx:
        org, _mailbox = require_organisation(tx)
        if tx.count_login_failures(tag, since) >= ctx.policy.login_failures_allowed:
            raise RateLimited("too many failed log-ins")
        fresh = tx.staff(staff.id)
    if fresh is None or not fresh.active:
        raise LoginFailed("not a staff member any more")
    try:
        key = open_mailbox_key(fresh, Password(current), ctx.secret)
    except CannotOpen:
        with ctx.repo.transaction() as tx:
            # As a log-in does (core.login): tries to this account take turns here and
            # are counted again, so parallel wrong guesses past the limit get no answer.
            tx.lock_for_login(tag)
            throttled = tx.count_login_failures(tag, since) >= ctx.policy.login_failures_allowed
            tx.add(LoginFailure(email_tag=tag, at=now))
            ctx.audit.append(tx, _whom(fresh), Action.LOGIN_FAILED, detail="password change")
            if not throttled:
                note_failed_login(ctx, tx, fresh, tag)
        if throttled:
            raise RateLimited("too many failed log-ins") from None
        raise InvalidInput(_("That is not your current password.")) from None
    if new == current:
        raise InvalidInput(_("The new password is the same as the current one."))
    pw = check_password(new, ctx.policy, (fresh.email, org.name, fresh.name))
    opened_wrap = fresh.key_wrap
    give_keys(
        fresh,
        password=pw,
        mailbox_key=key,
        mailbox_id=fresh.mailbox_id,
        secret=ctx.secret,
        policy=ctx.policy,
    )
    with ctx.repo.transaction() as tx:
        current_row = tx.staff(fresh.id)
        if current_row is None or not hmac.compare_digest(current_row.key_wrap, opened_wrap):
            raise LoginFailed("changed meanwhile")  # removed, reset or changed elsewhere
        current_row.key_wrap, current_row.public_key = fresh.key_wrap, fresh.public_key
        current_row.mailbox_wrap, current_row.pin = fresh.mailbox_wrap, fresh.pin
        tx.save_staff(current_row)
        ctx.audit.append(tx, _whom(fresh), Action.STAFF_PASSWORD_CHANGED)
    ctx.repo.scrub()
    return current_row
