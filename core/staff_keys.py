"""A staff member's keys: their own key pair, their password over it, the mailbox key
wrapped to it; and taking all of it away.

Format 3 of a staff row (issue 14). The password (Argon2id and the pepper, core.keys)
wraps the person's *own* private key, bound to their id; the mailbox private key is
HPKE-wrapped to their own public key, bound to their id and the mailbox. Before, the
password wrapped the mailbox key itself (:func:`core.labels.staff_key`): that still
opens, and the next log-in moves it to format 3 (core.login).

Why a key pair per person, and not the mailbox key under each password: a rotation
(core.rotation) must hand a new mailbox key to every staff member without their
passwords, and then nothing of the old key may remain. With a public key per person an
admin wraps the new key to each of them; the public key and the role are pinned under
the server secret (core.pins), so someone who can write the database cannot slip in a
key of their own and receive the next mailbox key.
"""

from __future__ import annotations

import hmac

from core import labels
from core.errors import CannotOpen, KeyDamaged
from core.keys import MailboxPrivateKey, MailboxPublicKey, Password
from core.models import StaffMember
from core.pins import is_staff_pinned, pin_staff
from core.policy import Policy
from core.server_secret import ServerSecret


def give_keys(
    staff: StaffMember,
    *,
    password: Password,
    mailbox_key: MailboxPrivateKey,
    mailbox_id: str,
    secret: ServerSecret,
    policy: Policy,
) -> None:
    """A new own key pair for ``staff``, its private half under ``password`` and the
    mailbox key wrapped to its public half; pinned. Runs Argon2id once."""
    own = MailboxPrivateKey.generate()
    staff.key_wrap = password.wrap(
        own.raw_bytes(), labels.staff_own_key(staff.id), policy.argon2, secret.pepper()
    )
    staff.public_key = own.public_key().raw
    pin_staff(secret, staff)
    hand_mailbox_key(staff, mailbox_key, mailbox_id, secret)


def hand_mailbox_key(
    staff: StaffMember, mailbox_key: MailboxPrivateKey, mailbox_id: str, secret: ServerSecret
) -> None:
    """Wrap ``mailbox_key`` to the staff member's own public key, if it is pinned: a key
    someone swapped in the database gets nothing (:class:`KeyDamaged`)."""
    if not staff.public_key or not is_staff_pinned(secret, staff):
        raise KeyDamaged("staff public key does not match its pin")
    staff.mailbox_wrap = MailboxPublicKey(staff.public_key).wrap(
        mailbox_key.raw_bytes(), labels.staff_mailbox_key(staff.id, mailbox_id)
    )


def open_mailbox_key(
    staff: StaffMember, password: Password, secret: ServerSecret
) -> MailboxPrivateKey:
    """The mailbox key, opened with the staff member's password (either format);
    :class:`CannotOpen` for a wrong password or anything damaged."""
    if not staff.public_key:  # a wrap from before format 3: the mailbox key itself
        binding = labels.staff_key(staff.id, staff.mailbox_id)
        return MailboxPrivateKey(password.unwrap(staff.key_wrap, binding, secret.pepper()))
    own = MailboxPrivateKey(
        password.unwrap(staff.key_wrap, labels.staff_own_key(staff.id), secret.pepper())
    )
    if not hmac.compare_digest(own.public_key().raw, staff.public_key):
        raise CannotOpen("own key does not match its public key")
    binding = labels.staff_mailbox_key(staff.id, staff.mailbox_id)
    return MailboxPrivateKey(own.unwrap(staff.mailbox_wrap, binding))


def take_keys(staff: StaffMember, secret: ServerSecret) -> None:
    """Nothing of theirs opens anything any more: no password wrap, no own key, no wrap
    of the mailbox key, no TOTP secret. Pinned again (role and an empty key)."""
    staff.key_wrap = b""
    staff.public_key = b""
    staff.mailbox_wrap = b""
    staff.totp_sealed = b""
    staff.last_totp_step = None
    staff.enrolled_at = None
    pin_staff(secret, staff)
