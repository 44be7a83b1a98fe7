"""Staff invitations: how a newcomer comes to hold the mailbox key (issue 14).

The hand-over. Only someone who holds the mailbox key can pass it on, so an admin
authorises the invitation with their own password and TOTP (core.staff). Then:

- the mailbox private key is wrapped for the invitation under a key made of two codes
  and the pepper from ``server.key`` (core.keys.staff_invitation_key);
- the **invitation code** (160 bits) goes to the newcomer's address by e-mail; the
  database keeps only a keyed tag of it, to find the invitation;
- the **hand-over code** (80 bits and a check character) is shown to the admin only,
  who gives it to the newcomer in person or by phone; it is stored nowhere.

So the e-mail alone opens nothing (it lacks the hand-over code); the hand-over code
alone opens nothing (it lacks the invitation code); a copy of the database with both
codes opens nothing without ``server.key``. The newcomer finishes on their own
terminal (``veilig staff enrol``): both codes, then a password of their own (the
blocklist applies) and their authenticator app, proven by a code from it. Only then do
they hold a wrap of the mailbox key (core.staff_keys), and the invitation's wrap is
deleted in the same transaction: it works once. It expires after
``Policy.staff_invitation_lifetime``; ``Policy.staff_invitation_attempts`` wrong
hand-over codes destroy it. Every step is in the audit log.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime

from core import labels, two_factor
from core.audit import Action
from core.context import Context, require_organisation
from core.errors import CannotOpen, InvalidInput, KeyDamaged, VeiligError
from core.i18n import _
from core.keys import MailboxPrivateKey, check_character, staff_invitation_key
from core.mail import staff_invitation_email
from core.models import Mailbox, Role, StaffInvitation, StaffMember
from core.pins import is_pinned
from core.ports import Transaction
from core.setup import check_password
from core.staff_keys import give_keys

INVITATION_CODE_BYTES = 20  # 160 bits, like a recipient's reference
HANDOVER_CODE_BYTES = 10  # 80 bits: guessed online 5 times at most, offline not at all
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_LOOK_ALIKE = str.maketrans({"0": "O", "1": "I", "8": "B"})


class EnrolmentRefused(VeiligError):
    """The codes open no invitation: unknown, used, expired, destroyed after too many
    wrong hand-over codes, or a wrong hand-over code. One message for all but a wrong
    hand-over code, which says how many tries are left."""


@dataclass(frozen=True)
class Invited:
    """An invitation made: the hand-over code, to be given to ``email`` by the admin."""

    email: str
    name: str
    handover_code: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class OpenInvitation:
    """An invitation whose codes opened the mailbox key: the newcomer may now choose a
    password and set up TOTP (:func:`enrol`)."""

    invitation: StaffInvitation
    staff: StaffMember
    org: str
    key: MailboxPrivateKey = field(repr=False)
    totp_secret: str = field(repr=False)
    totp_uri: str = field(repr=False)


# --- the two codes ----------------------------------------------------------------------


def _groups(text: str) -> str:
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def _compact(typed: str) -> str:
    return "".join(ch for ch in typed.upper() if ch not in " -\t\r\n").translate(_LOOK_ALIKE)


def new_invitation_code() -> tuple[str, bytes]:
    raw = secrets.token_bytes(INVITATION_CODE_BYTES)
    return _groups(base64.b32encode(raw).decode()), raw


def parse_invitation_code(typed: str) -> bytes:
    compact = _compact(typed)
    if len(compact) != 32 or not set(compact) <= _BASE32:
        raise InvalidInput(
            _("That is not an invitation code: it is 8 groups of 4 letters and digits.")
        )
    return base64.b32decode(compact)


def new_handover_code() -> tuple[str, bytes]:
    raw = secrets.token_bytes(HANDOVER_CODE_BYTES)
    text = base64.b32encode(raw).decode()
    return _groups(text + check_character(text)), raw


def parse_handover_code(typed: str) -> bytes:
    """Read aloud over the phone and typed: its check character catches a mistyped or
    swapped character before a try is counted (core.keys.check_character)."""
    compact = _compact(typed)
    if len(compact) != 17 or not set(compact) <= _BASE32:
        raise InvalidInput(_("That is not a hand-over code: it has 17 letters and digits."))
    if check_character(compact[:-1]) != compact[-1]:
        raise InvalidInput(_("That hand-over code has a typing error. Please check it."))
    return base64.b32decode(compact[:-1])


def _code_tag(ctx: Context, code: bytes) -> str:
    return ctx.secret.tag(labels.STAFF_INVITATION_CODE, code.hex()).hex()


# --- making one (an admin, or the recovery key) -------------------------------------------


def invite(
    ctx: Context,
    tx: Transaction,
    *,
    staff: StaffMember,
    mailbox_key: MailboxPrivateKey,
    actor: str,
) -> Invited:
    """Within ``tx`` (``staff`` already stored in it): a new invitation for ``staff``, any
    earlier one destroyed; the invitation code queued by e-mail, audited."""
    org, mailbox = require_organisation(tx)
    _require_mailbox_key(ctx, mailbox, mailbox_key)
    for old in [i for i in tx.staff_invitations() if i.staff_id == staff.id]:
        tx.destroy_staff_invitation(old.id)
        ctx.audit.append(tx, actor, Action.STAFF_INVITATION_DESTROYED, detail=_whom(staff, "new"))
    code_text, code = new_invitation_code()
    handover_text, handover = new_handover_code()
    now = ctx.clock()
    invitation = StaffInvitation(
        staff_id=staff.id,
        code_tag=_code_tag(ctx, code),
        wrap=b"",
        created_at=now,
        expires_at=now + ctx.policy.staff_invitation_lifetime,
        invited_by=actor,
    )
    key = staff_invitation_key(code, handover, ctx.secret.pepper(), invitation.id)
    invitation.wrap = key.wrap(mailbox_key.raw_bytes(), _binding(invitation, staff))
    tx.add(invitation)
    mail = staff_invitation_email(
        org=org.name,
        sender=mailbox.address,
        to=staff.email,
        name=staff.name,
        code=code_text,
        admin=staff.role is Role.ADMIN,
        expires_at=invitation.expires_at,
    )
    ctx.outbox.enqueue_email(tx, mail)
    detail = _whom(staff, f"{staff.role}, until {invitation.expires_at.isoformat()}")
    ctx.audit.append(tx, actor, Action.STAFF_INVITED, detail=detail)
    return Invited(staff.email, staff.name, handover_text, invitation.expires_at)


def _binding(invitation: StaffInvitation, staff: StaffMember) -> bytes:
    return labels.staff_invitation_wrap(invitation.id, staff.id, staff.mailbox_id, staff.role)


def _whom(staff: StaffMember, note: str = "") -> str:
    return f"staff:{staff.email}" + (f" ({note})" if note else "")


def _require_mailbox_key(ctx: Context, mailbox: Mailbox, key: MailboxPrivateKey) -> None:
    """Hand on only the mailbox's own key, and only while its public key is pinned."""
    if not is_pinned(ctx.secret, mailbox) or not hmac.compare_digest(
        key.public_key().raw, mailbox.public_key
    ):
        raise KeyDamaged("the key to hand on is not the mailbox key")


def destroy_expired_invitations(ctx: Context, tx: Transaction) -> int:
    """Delete invitations past their time (``veilig staff list`` and every enrolment
    sweep): their wrap of the mailbox key goes with them."""
    now, gone = ctx.clock(), 0
    for invitation in tx.staff_invitations():
        if invitation.expires_at <= now and tx.destroy_staff_invitation(invitation.id):
            staff = tx.staff(invitation.staff_id)
            who = _whom(staff, "expired") if staff else "expired"
            ctx.audit.append(tx, "veilig", Action.STAFF_INVITATION_DESTROYED, detail=who)
            gone += 1
    return gone


# --- using one (the newcomer) ---------------------------------------------------------


def open_invitation(ctx: Context, invitation_code: str, handover_code: str) -> OpenInvitation:
    """The invitation the two codes open, with the mailbox key; :class:`InvalidInput`
    for a code that is mistyped (nothing counted), :class:`EnrolmentRefused` otherwise."""
    code = parse_invitation_code(invitation_code)
    handover = parse_handover_code(handover_code)
    refused = EnrolmentRefused(
        _(
            "These codes open no invitation: it was used, has expired or was withdrawn. "
            "Ask your administrator for a new one."
        )
    )
    with ctx.repo.transaction() as tx:
        destroy_expired_invitations(ctx, tx)
        org, mailbox = require_organisation(tx)
        invitation = tx.staff_invitation_by_tag(_code_tag(ctx, code))
        staff = tx.staff(invitation.staff_id) if invitation else None
    if invitation is None or staff is None or staff.removed_at is not None:
        _note(ctx, "unknown", Action.STAFF_ENROL_FAILED, "no such invitation")
        raise refused
    key = staff_invitation_key(code, handover, ctx.secret.pepper(), invitation.id)
    try:
        raw = key.unwrap(invitation.wrap, _binding(invitation, staff))
    except CannotOpen:
        raise _wrong_handover(ctx, invitation, staff, refused) from None
    mailbox_key = MailboxPrivateKey(raw)
    _require_mailbox_key(ctx, mailbox, mailbox_key)
    totp_secret = two_factor.new_secret()
    uri = two_factor.provisioning_uri(
        totp_secret, account=staff.email, issuer=f"veilig {org.name}", policy=ctx.policy
    )
    return OpenInvitation(invitation, staff, org.name, mailbox_key, totp_secret, uri)


def _wrong_handover(
    ctx: Context, invitation: StaffInvitation, staff: StaffMember, refused: EnrolmentRefused
) -> EnrolmentRefused:
    actor = _whom(staff)
    with ctx.repo.transaction() as tx:
        attempts = tx.count_staff_invitation_failure(invitation.id)
        ctx.audit.append(tx, actor, Action.STAFF_ENROL_FAILED, detail=f"attempt {attempts}")
        left = ctx.policy.staff_invitation_attempts - attempts
        if left <= 0:
            if tx.destroy_staff_invitation(invitation.id):
                detail = _whom(staff, "too many wrong hand-over codes")
                ctx.audit.append(tx, actor, Action.STAFF_INVITATION_DESTROYED, detail=detail)
    if left <= 0:
        ctx.repo.scrub()
        return refused
    return EnrolmentRefused(
        _("The hand-over code is not right. You can try {n} more times.").format(n=left)
    )


def _note(ctx: Context, actor: str, action: Action, detail: str) -> None:
    with ctx.repo.transaction() as tx:
        ctx.audit.append(tx, actor, action, detail=detail)


def enrol(ctx: Context, opened: OpenInvitation, password: str, totp_code: str) -> StaffMember:
    """The newcomer's password and a code from their authenticator app (set up with
    ``opened.totp_uri``): they now hold a wrap of the mailbox key, and the invitation is
    gone. :class:`InvalidInput` for a weak password or a wrong code (try again with the
    same invitation); :class:`EnrolmentRefused` when the invitation was used meanwhile."""
    staff = opened.staff
    pw = check_password(password, ctx.policy, (staff.email, opened.org, staff.name))
    now = ctx.clock()
    step = two_factor.matching_step(opened.totp_secret, totp_code, now, ctx.policy)
    if step is None:
        raise InvalidInput(
            _("That code is not the one your authenticator app shows now. Please try again.")
        )
    fresh = replace(staff)
    give_keys(
        fresh,
        password=pw,
        mailbox_key=opened.key,
        mailbox_id=staff.mailbox_id,
        secret=ctx.secret,
        policy=ctx.policy,
    )
    with ctx.repo.transaction() as tx:
        current = tx.staff(staff.id)
        # One use: of two enrolments with the same codes, one deletes the invitation.
        if (
            current is None
            or current.removed_at is not None
            or current.role != staff.role
            or opened.invitation.expires_at <= now
            or not tx.destroy_staff_invitation(opened.invitation.id)
        ):
            raise EnrolmentRefused(
                _("This invitation was used or withdrawn meanwhile. Nothing was changed.")
            )
        current.key_wrap, current.public_key = fresh.key_wrap, fresh.public_key
        current.mailbox_wrap, current.pin = fresh.mailbox_wrap, fresh.pin
        current.totp_sealed = two_factor.seal_secret(ctx.secret, opened.totp_secret, staff.id)
        current.last_totp_step = step
        current.enrolled_at = now
        current.failed_logins, current.locked_at = 0, None
        tx.save_staff(current)
        ctx.audit.append(tx, _whom(current), Action.STAFF_ENROLLED, detail=current.role)
    ctx.repo.scrub()
    return current
