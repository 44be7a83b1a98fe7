"""Lifetime caps on guessing: a recipient's wrong codes and a staff account's failed
log-ins in a row lock it until a staff member acts (NIST SP 800-63B §5.2.2).

The throttles (per code, per destination per hour, per typed address per 15 minutes)
slow guessing down but reset; these counters do not. Locking is audited and said by
e-mail to the mailbox address. A locked party gets the same answers as before — a code
"sent" (to nobody), "not right", "log-in failed" — so the lock tells a guesser nothing,
and the real person asks the organisation, which sees it in *Sent* or in the mail.
"""

from __future__ import annotations

from core.audit import Action
from core.context import Context, require_organisation
from core.i18n import _
from core.mail import lockout_alert
from core.models import Participant, StaffMember
from core.ports import Transaction


def note_code_failure(ctx: Context, tx: Transaction, participant: Participant) -> None:
    """One more wrong code for ``participant``; at the policy's cap, lock them."""
    failures = tx.count_code_failure(participant.id)
    allowed = ctx.policy.recipient_code_failures_allowed
    # Locked by a conditional update: of two wrong codes at the cap, one locks (and
    # audits and alerts), not both.
    if failures < allowed or not tx.lock_participant(participant.id, ctx.clock()):
        return
    actor = f"recipient:{participant.id}"
    conversation = participant.conversation_id
    ctx.audit.append(tx, actor, Action.RECIPIENT_LOCKED, conversation, str(failures))
    _alert(ctx, tx, _("a recipient's access (see Sent)"), failures)


def note_failed_login(ctx: Context, tx: Transaction, staff: StaffMember | None, tag: str) -> None:
    """One more failed log-in in a row for ``staff``; at the policy's cap, lock it (a
    conditional update: of two racing failures, one locks and one alert goes out).

    For an unknown address (``staff`` None) the same count runs against a row that does
    not exist (the typed address's tag is no staff id): the time a failure takes must not
    tell a known account from an unknown one (tests/abuse/test_enumeration.py).
    """
    failures = tx.count_failed_login(staff.id if staff else tag)
    allowed = ctx.policy.staff_failed_logins_allowed
    if failures < allowed or staff is None or not tx.lock_staff(staff.id, ctx.clock()):
        return
    ctx.audit.append(tx, f"staff:{staff.email}", Action.STAFF_LOCKED, detail=str(failures))
    _alert(ctx, tx, _("the staff account {email}").format(email=staff.email), failures)


def _alert(ctx: Context, tx: Transaction, who: str, failures: int) -> None:
    org, mailbox = require_organisation(tx)
    mail = lockout_alert(org=org.name, mailbox=mailbox.address, who=who, failures=failures)
    ctx.outbox.enqueue_email(tx, mail)


def unlock_recipient(ctx: Context, tx: Transaction, actor: str, participant_id: str) -> bool:
    """Staff let a locked recipient try codes again; False when there is nothing to unlock."""
    participant = tx.participant(participant_id)
    if participant is None or participant.locked_at is None:
        return False
    participant.locked_at, participant.code_failures = None, 0
    tx.save_participant(participant)
    ctx.audit.append(tx, actor, Action.RECIPIENT_UNLOCKED, participant.conversation_id)
    return True


def unlock_staff(ctx: Context, tx: Transaction, actor: str, email: str) -> bool:
    """Let a locked staff account log in again; False when there is nothing to unlock."""
    staff = tx.staff_by_email(email.strip().casefold())
    if staff is None or staff.locked_at is None:
        return False
    staff.locked_at, staff.failed_logins = None, 0
    tx.save_staff(staff)
    ctx.audit.append(tx, actor, Action.STAFF_UNLOCKED, detail=f"staff:{staff.email}")
    return True
