"""``veilig init``: the organisation, its mailbox key pair and the first staff member, an
admin (who adds the others: core.staff)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core import labels, two_factor
from core.audit import Action, AuditLog
from core.clock import Clock
from core.contact import check_email
from core.errors import AlreadyInitialised, InvalidInput
from core.i18n import _
from core.keys import MailboxPrivateKey, Password, RecoveryKey, new_recovery_key
from core.models import Mailbox, Organisation, Role, StaffMember
from core.pins import pin_mailbox
from core.policy import Policy
from core.ports import Repository
from core.server_secret import ServerSecret
from core.signing import PublicKey, SigningKey
from core.staff_keys import give_keys


@dataclass(frozen=True)
class InitResult:
    organisation: str
    mailbox: str
    staff: str
    totp_secret: str
    totp_uri: str
    recovery_key: RecoveryKey
    # The organisation's public signing key (core.signing): to publish, for auditors.
    signing_key: PublicKey | None = None

    def __repr__(self) -> str:
        return f"InitResult({self.organisation!r}, {self.mailbox!r}, {self.staff!r}, <secrets>)"


def check_password(password: str, policy: Policy, context: Sequence[str] = ()) -> Password:
    """A staff password, or InvalidInput saying why not (NIST SP 800-63B §3.1.1.2).

    Refused: too short; too few different characters; and whatever zxcvbn estimates at
    fewer than 10^10 guesses (score < 4): passwords from its breached-password list and
    other common ones, English dictionary words, names, keyboard patterns, dates,
    repeats and sequences, and ``context`` words (the e-mail address, the organisation,
    "veilig"). Its lists are English: a Dutch word is judged by its length and mix.
    """
    if len(password) < policy.staff_password_min_length:
        raise InvalidInput(
            _("The password needs at least {n} characters.").format(
                n=policy.staff_password_min_length
            )
        )
    if len(set(password)) < 5:  # "aaaaaaaaaaaa", "abababab…": length alone is not strength
        raise InvalidInput(_("That password is too easy to guess. Use more different characters."))
    # Imported here: its word lists take a moment to load, and only `init` needs them.
    from zxcvbn import zxcvbn

    context = [item for item in context if item]
    words = ["veilig", *context]
    for item in context:  # the parts of addresses and names too
        words += [part for part in re.split(r"[@.\s_+-]+", item) if len(part) >= 3]
    if zxcvbn(password, user_inputs=words)["score"] < policy.staff_password_min_score:
        raise InvalidInput(
            _(
                "That password is too easy to guess: it is a common or leaked password, "
                "or made of words, names, dates or patterns. Use a longer phrase of "
                "unrelated words, or a password manager."
            )
        )
    return Password(password)


def initialise(
    *,
    repo: Repository,
    secret: ServerSecret,
    audit: AuditLog,
    actor: str,
    policy: Policy,
    clock: Clock,
    org_name: str,
    mailbox_address: str,
    staff_email: str,
    password: str,
    staff_name: str = "",
    show: Callable[[InitResult], None] | None = None,
) -> InitResult:
    """Create organisation, mailbox and first staff member.

    ``show`` runs before the commit: if the secrets cannot be shown (a broken pipe, a
    closed terminal), nothing is stored, and ``init`` can simply run again. Otherwise
    the recovery key would be lost forever.

    The audit log's first entry says so, by ``actor`` (who ran it), in the same
    transaction: an organisation that exists was created on the record.
    """
    org_name = org_name.strip()
    if not org_name:
        raise InvalidInput(_("The organisation needs a name."))
    mailbox_address = check_email(mailbox_address)
    staff_email = check_email(staff_email).casefold()  # log-in matches case-insensitively
    staff_name = " ".join(staff_name.split())
    pw = check_password(password, policy, (staff_email, org_name, mailbox_address, staff_name))
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
        mailbox.recovery_wrap = recovery.wrap(private.raw_bytes(), labels.recovery_wrap(mailbox.id))
        pin_mailbox(secret, mailbox)
        totp_secret = two_factor.new_secret()
        staff = StaffMember(
            mailbox_id=mailbox.id,
            email=staff_email,
            key_wrap=b"",
            totp_sealed=b"",
            created_at=now,
            name=staff_name,
            role=Role.ADMIN,
            enrolled_at=now,
        )
        give_keys(
            staff,
            password=pw,
            mailbox_key=private,
            mailbox_id=mailbox.id,
            secret=secret,
            policy=policy,
        )
        staff.totp_sealed = two_factor.seal_secret(secret, totp_secret, staff.id)
        tx.add(org)
        tx.add(mailbox)
        tx.add(staff)
        uri = two_factor.provisioning_uri(
            totp_secret, account=staff_email, issuer=f"veilig {org_name}", policy=policy
        )
        public = SigningKey.of(secret).public_key()
        audit.append(
            tx,
            actor,
            Action.ORGANISATION_CREATED,
            detail=f"staff:{staff_email}, signing key {public.fingerprint}",
        )
        result = InitResult(
            org_name, mailbox_address, staff_email, totp_secret, uri, recovery, public
        )
        if show is not None:
            show(result)
    return result
