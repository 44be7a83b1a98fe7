"""Staff log-in: e-mail, password and TOTP, or :class:`LoginFailed` for every kind of wrong.

The password (with the pepper from server.key) unwraps the mailbox key for this
session only (core.keys); the TOTP code is checked with replay prevention
(core.two_factor). Failures are throttled per typed address, known or not, and an
unknown address takes the same path and the same Argon2id time as a known one, so the
answer does not tell whether an account exists. A known account locks after too many
failures in a row (core.lockout) and then fails like any wrong try. A successful log-in
re-wraps a format-1 wrap with the pepper, and checks the mailbox public key in the
database against the key it unwrapped (core.pins).
"""

from __future__ import annotations

import hmac

from core import labels, two_factor
from core.audit import Action
from core.context import Context, require_organisation
from core.errors import CannotOpen, KeyDamaged, LoginFailed, RateLimited
from core.keys import (
    PASSWORD_V2,
    PRIVATE_KEY_SIZE,
    MailboxPrivateKey,
    Password,
    password_wrap_version,
    unopenable_password_wrap,
)
from core.lockout import note_failed_login
from core.models import LoginFailure, StaffMember
from core.pins import is_pinned, pin_mailbox
from core.policy import Argon2Cost
from core.ports import Transaction


def _dummy_wrap(cost: Argon2Cost) -> bytes:
    """A key wrap nobody can open, so an unknown account costs the same Argon2id time.

    Made fresh each time and without running the KDF: one made with the KDF (and kept)
    made the first unknown log-in of every process cost two derivations, and each
    ``veilig desk`` is a new process, so that first try told a typed address apart."""
    return unopenable_password_wrap(cost, PRIVATE_KEY_SIZE)


def log_in(
    ctx: Context, email: str, password: str, totp_code: str
) -> tuple[StaffMember, MailboxPrivateKey]:
    """The staff member and their unlocked mailbox key; raises :class:`LoginFailed` (or
    :class:`RateLimited`) — the same for every kind of wrong, a locked account too."""
    typed = email.strip().casefold()
    tag = ctx.secret.tag("login", typed).hex()
    now = ctx.clock()
    with ctx.repo.transaction() as tx:
        require_organisation(tx)
        since = now - ctx.policy.login_failure_window
        if tx.count_login_failures(tag, since) >= ctx.policy.login_failures_allowed:
            raise RateLimited("too many failed log-ins")
        staff = tx.staff_by_email(typed)
    binding = labels.staff_key(staff.id, staff.mailbox_id) if staff else b"dummy"
    wrap = staff.key_wrap if staff else _dummy_wrap(ctx.policy.argon2)
    key: MailboxPrivateKey | None = None
    step: int | None = None
    try:
        key = MailboxPrivateKey(Password(password).unwrap(wrap, binding, ctx.secret.pepper()))
    except CannotOpen:
        key = None
    if staff is not None and key is not None:
        secret = two_factor.open_secret(ctx.secret, staff.totp_sealed, staff.id)
        step = two_factor.matching_step(secret, totp_code, now, ctx.policy)
    mismatch = False
    with ctx.repo.transaction() as tx:
        # Count again, inside the transaction that records the outcome, with log-ins
        # to this address taking turns from here: attempts that raced past the first
        # check all ran the KDF, but beyond the limit their outcome is thrown away
        # unseen, so parallel tries gain nothing (also on PostgreSQL, also across hosts).
        tx.lock_for_login(tag)
        allowed = ctx.policy.login_failures_allowed
        throttled = tx.count_login_failures(tag, since) >= allowed
        fresh = tx.staff_by_email(typed) if staff and not throttled else None
        locked = fresh is not None and fresh.locked_at is not None
        # A TOTP step is accepted once: refused when the last one recorded is as new,
        # and recorded by a conditional update that only one of two racing log-ins wins.
        accepted = (
            fresh is not None
            and key is not None
            and step is not None
            and not locked
            and not two_factor.is_replay(step, fresh.last_totp_step)
            and tx.advance_totp_step(fresh.id, step)
        )
        if not accepted or fresh is None or key is None or step is None:
            tx.add(LoginFailure(email_tag=tag, at=now))
            ctx.audit.append(tx, f"staff:{typed}" if staff else "unknown", Action.LOGIN_FAILED)
            if fresh is not None and not throttled:
                note_failed_login(ctx, tx, fresh)
            failed = True
        else:
            fresh.last_totp_step = step  # as recorded above: the save must not undo it
            fresh.failed_logins = 0
            mismatch = not _check_mailbox(ctx, tx, fresh, key)
            if mismatch:
                ctx.audit.append(tx, f"staff:{typed}", Action.MAILBOX_KEY_MISMATCH)
            else:
                if password_wrap_version(fresh.key_wrap) != PASSWORD_V2:
                    # Format 1 had no pepper: re-wrap now that the password is at hand,
                    # so the database stops holding a wrap that can be guessed offline.
                    fresh.key_wrap = Password(password).wrap(
                        key.raw_bytes(), binding, ctx.policy.argon2, ctx.secret.pepper()
                    )
                tx.clear_login_failures(tag)
                ctx.audit.append(tx, f"staff:{typed}", Action.LOGIN_OK)
            tx.save_staff(fresh)
            failed = False
    if throttled:
        raise RateLimited("too many failed log-ins")
    if mismatch:
        raise KeyDamaged("mailbox public key is not the mailbox key's")
    if failed or fresh is None or key is None:
        raise LoginFailed("login failed")
    return fresh, key


def _check_mailbox(
    ctx: Context, tx: Transaction, staff: StaffMember, key: MailboxPrivateKey
) -> bool:
    """The public key in the database is the public half of the key the password opened
    (else someone swapped it: refuse, and say so). Pin it when its pin is missing or
    wrong: this log-in is the proof (an upgraded home's first log-in pins it this way)."""
    _org, mailbox = require_organisation(tx)
    if mailbox.id != staff.mailbox_id:
        return False
    if not hmac.compare_digest(key.public_key().raw, mailbox.public_key):
        return False
    if not is_pinned(ctx.secret, mailbox):
        pin_mailbox(ctx.secret, mailbox)
        tx.save_mailbox(mailbox)
    return True
