"""A team on one home: a colleague beside the first staff member, made the way `init`
makes the first (a wrap of the mailbox key under their own password, their own TOTP).

Until `veilig staff add` exists (the staff-lifecycle work of issue 14) this is how the
tests of the shared desk get a second person; the mailbox key comes from the home's
recovery key, as an admin's would."""

from __future__ import annotations

import pyotp

from core import labels, two_factor
from core.keys import Password
from core.models import StaffMember
from core.recovery import open_mailbox
from core.setup import InitResult

COLLEAGUE_EMAIL = "balie@declacare.nl"
COLLEAGUE_PASSWORD = "purple lantern orbits quietly"


def add_colleague(
    ctx, init: InitResult, email: str = COLLEAGUE_EMAIL, password: str = COLLEAGUE_PASSWORD
) -> pyotp.TOTP:
    """A second staff member on the home; their authenticator app."""
    with ctx.repo.transaction() as tx:
        mailbox = tx.mailbox()
    private = open_mailbox(mailbox, str(init.recovery_key))
    secret = two_factor.new_secret()
    staff = StaffMember(
        mailbox_id=mailbox.id, email=email, key_wrap=b"", totp_sealed=b"", created_at=ctx.clock()
    )
    staff.key_wrap = Password(password).wrap(
        private.raw_bytes(),
        labels.staff_key(staff.id, mailbox.id),
        ctx.policy.argon2,
        ctx.secret.pepper(),
    )
    staff.totp_sealed = two_factor.seal_secret(ctx.secret, secret, staff.id)
    with ctx.repo.transaction() as tx:
        tx.add(staff)
    return pyotp.TOTP(secret)
