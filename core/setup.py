"""``veilig init``: the organisation, its mailbox key pair and the first staff member."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyotp

from core.clock import Clock
from core.errors import AlreadyInitialised, InvalidInput
from core.i18n import _
from core.keys import (
    MailboxPrivateKey,
    Password,
    RecoveryKey,
    new_recovery_key,
    wrap_with_password,
    wrap_with_recovery_key,
)
from core.models import Mailbox, Organisation, StaffMember
from core.policy import Policy
from core.ports import Repository
from core.server_secret import ServerSecret
from core.starter import check_email


@dataclass(frozen=True)
class InitResult:
    organisation: str
    mailbox: str
    staff: str
    totp_secret: str
    totp_uri: str
    recovery_key: RecoveryKey

    def __repr__(self) -> str:
        return f"InitResult({self.organisation!r}, {self.mailbox!r}, {self.staff!r}, <secrets>)"


def staff_key_binding(staff_id: str, mailbox_id: str) -> bytes:
    return f"veilig/v1/staff-key|{staff_id}|{mailbox_id}".encode()


def recovery_binding(mailbox_id: str) -> bytes:
    return f"veilig/v1/recovery|{mailbox_id}".encode()


def totp_binding(staff_id: str) -> bytes:
    return f"veilig/v1/totp|{staff_id}".encode()


def check_password(password: str, policy: Policy) -> Password:
    if len(password) < policy.staff_password_min_length:
        raise InvalidInput(
            _("The password needs at least {n} characters.").format(
                n=policy.staff_password_min_length
            )
        )
    if len(set(password)) < 5:  # "aaaaaaaaaaaa", "abababab…": length alone is not strength
        raise InvalidInput(_("That password is too easy to guess. Use more different characters."))
    return Password(password)


def initialise(
    *,
    repo: Repository,
    secret: ServerSecret,
    policy: Policy,
    clock: Clock,
    org_name: str,
    mailbox_address: str,
    staff_email: str,
    password: str,
    show: Callable[[InitResult], None] | None = None,
) -> InitResult:
    """Create organisation, mailbox and first staff member.

    ``show`` runs before the commit: if the secrets cannot be shown (a broken pipe, a
    closed terminal), nothing is stored, and ``init`` can simply run again. Otherwise
    the recovery key would be lost forever.
    """
    org_name = org_name.strip()
    if not org_name:
        raise InvalidInput(_("The organisation needs a name."))
    mailbox_address = check_email(mailbox_address)
    staff_email = check_email(staff_email).casefold()  # log-in matches case-insensitively
    pw = check_password(password, policy)
    now = clock()
    with repo.transaction() as tx:
        if tx.organisation() is not None:
            raise AlreadyInitialised(_("This home already has an organisation."))
        org = Organisation(name=org_name, created_at=now)
        private = MailboxPrivateKey.generate()
        recovery = new_recovery_key()
        mailbox = Mailbox(
            organisation_id=org.id,
            address=mailbox_address,
            public_key=private.public_key().raw,
            recovery_wrap=b"",
            created_at=now,
        )
        mailbox.recovery_wrap = wrap_with_recovery_key(
            private.raw_bytes(), recovery, recovery_binding(mailbox.id)
        )
        totp_secret = pyotp.random_base32()  # 160 bits from `secrets` (RFC 4226 §4)
        staff = StaffMember(
            mailbox_id=mailbox.id, email=staff_email, key_wrap=b"", totp_sealed=b"", created_at=now
        )
        staff.key_wrap = wrap_with_password(
            private.raw_bytes(), pw, policy.argon2, staff_key_binding(staff.id, mailbox.id)
        )
        staff.totp_sealed = secret.seal(totp_secret.encode(), totp_binding(staff.id))
        tx.add(org)
        tx.add(mailbox)
        tx.add(staff)
        uri = pyotp.TOTP(
            totp_secret, digits=policy.totp_digits, interval=policy.totp_interval_seconds
        ).provisioning_uri(name=staff_email, issuer_name=f"veilig {org_name}")
        result = InitResult(org_name, mailbox_address, staff_email, totp_secret, uri, recovery)
        if show is not None:
            show(result)
    return result
