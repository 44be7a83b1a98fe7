"""A staff session holds the mailbox key only while the account still says it may.

The desk keeps the unlocked key for as long as it runs; an admin removes or resets
someone, a password is changed, an account locks, the mailbox key is rotated. So every
transaction a desk opens first reads its staff row (one query, inside the same
transaction): the session goes on only while the row exists, is enrolled, not removed
and not locked, and still holds the very wraps the session was opened with: the
password's (changed by a reset, a removal, a new password) and the mailbox key's
(changed by a rotation: core.rotation wraps the new key to everyone). Otherwise the key
is dropped and :class:`SessionEnded` says: log in again.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from core.errors import SessionEnded
from core.i18n import _
from core.keys import MailboxPrivateKey, RotatingMailboxKey
from core.models import StaffMember
from core.ports import Repository, Transaction


class StaffSession:
    """The key of one logged-in staff member, and the check that guards it."""

    def __init__(self, staff: StaffMember, key: MailboxPrivateKey) -> None:
        self.staff_id = staff.id
        self.wrap = staff.key_wrap
        self.mailbox_wrap = staff.mailbox_wrap
        self._key: MailboxPrivateKey | None = key

    def __repr__(self) -> str:
        return "StaffSession(<secret>)"

    @property
    def key(self) -> MailboxPrivateKey:
        if self._key is None:
            raise SessionEnded(_("Your session has ended. Please log in again."))
        return self._key

    def check(self, tx: Transaction) -> None:
        key = self.key
        staff = tx.staff(self.staff_id)
        if (
            staff is None
            or not staff.active
            or staff.locked_at is not None
            or not hmac.compare_digest(staff.key_wrap, self.wrap)
            or not hmac.compare_digest(staff.mailbox_wrap, self.mailbox_wrap)
        ):
            self._key = None
            raise SessionEnded(
                _(
                    "Your access changed (removed, reset, a new password or a new mailbox "
                    "key). Please log in again."
                )
            )
        if isinstance(key, RotatingMailboxKey) and tx.rotation() is None:
            self._key = key.settled()  # the rotation finished: the old key goes


class SessionRepository:
    """The desk's repository: every transaction checks the session first."""

    def __init__(self, repo: Repository, check: Callable[[Transaction], None]) -> None:
        self._repo = repo
        self._check = check

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._repo.transaction() as tx:
            self._check(tx)
            yield tx

    def scrub(self) -> None:
        self._repo.scrub()

    def forget_deleted(self) -> bool:
        return self._repo.forget_deleted()
