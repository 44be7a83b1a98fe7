"""Staff log-in: e-mail, password and TOTP, or :class:`LoginFailed` for every kind of wrong.

The password (with the pepper from server.key) unwraps the mailbox key for this
session only (core.keys); the TOTP code is checked with replay prevention
(core.two_factor). Failures are throttled per typed address, known or not, and an
unknown address takes the same path and the same Argon2id time as a known one, so the
answer does not tell whether an account exists. A known account locks after too many
failures in a row (core.lockout) and then fails like any wrong try; so does an account
that holds no wrap (invited, reset or removed: core.staff). A successful log-in
re-wraps a wrap of before format 3 (core.staff_keys), checks the mailbox public key in
the database against the key it unwrapped (core.pins), and while a rotation is under
way hands out the old key beside the new one (core.rotation).
"""

from __future__ import annotations

import hmac
import logging

from core import labels, two_factor
from core.audit import Action
from core.context import Context, require_organisation
from core.errors import CannotOpen, KeyDamaged, LoginFailed, RateLimited
from core.keys import (
    PRIVATE_KEY_SIZE,
    MailboxPrivateKey,
    Password,
    RotatingMailboxKey,
    unopenable_password_wrap,
)
from core.lockout import note_failed_login
from core.models import LoginFailure, StaffMember
from core.pins import is_pinned, pin_mailbox
from core.policy import Argon2Cost
from core.ports import Transaction
from core.staff_keys import give_keys, open_mailbox_key

log = logging.getLogger(__name__)


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
        paused = tx.count_login_failures(tag, since) >= ctx.policy.login_failures_allowed
        found = tx.staff_by_email(typed)
        if paused:  # refused unheard, but on the record: someone kept trying
            actor = f"staff:{typed}" if found else "unknown"
            ctx.audit.append(tx, actor, Action.LOGIN_FAILED, detail="refused: paused")
    if paused:
        raise RateLimited("too many failed log-ins")
    # An account without a wrap (invited, reset, removed) takes the unknown's path: the
    # same Argon2id time and the same failure.
    staff = found if found is not None and found.active else None
    key: MailboxPrivateKey | None = None
    step: int | None = None
    try:
        if staff is not None:
            key = open_mailbox_key(staff, Password(password), ctx.secret)
        else:
            dummy = _dummy_wrap(ctx.policy.argon2)
            Password(password).unwrap(dummy, b"dummy", ctx.secret.pepper())
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
        # Looked up for every address, known or not: the same statements either way, so
        # the time a failure takes says nothing about whether the account exists.
        row = tx.staff_by_email(typed) if not throttled else None
        fresh = row if staff is not None else None
        locked = fresh is not None and fresh.locked_at is not None
        # Removed, reset or re-keyed while the KDF ran: the wrap opened is no longer theirs.
        changed = (
            fresh is not None
            and staff is not None
            and (not fresh.active or not hmac.compare_digest(fresh.key_wrap, staff.key_wrap))
        )
        # A TOTP step is accepted once: refused when the last one recorded is as new,
        # and recorded by a conditional update that only one of two racing log-ins wins.
        accepted = (
            fresh is not None
            and key is not None
            and step is not None
            and not locked
            and not changed
            and not two_factor.is_replay(step, fresh.last_totp_step)
            and tx.advance_totp_step(fresh.id, step)
        )
        if not accepted or fresh is None or key is None or step is None:
            tx.add(LoginFailure(email_tag=tag, at=now))
            ctx.audit.append(tx, f"staff:{typed}" if staff else "unknown", Action.LOGIN_FAILED)
            if not throttled:
                note_failed_login(ctx, tx, fresh, tag)
            failed = True
        else:
            fresh.last_totp_step = step  # as recorded above: the save must not undo it
            fresh.failed_logins = 0
            mismatch = not _check_mailbox(ctx, tx, fresh, key)
            if mismatch:
                ctx.audit.append(tx, f"staff:{typed}", Action.MAILBOX_KEY_MISMATCH)
            else:
                if not fresh.public_key:
                    # A wrap of before format 3 (the mailbox key itself, perhaps without
                    # the pepper): re-wrap now that the password is at hand, so that a
                    # rotation can reach this person and a copy of the database cannot
                    # be used to guess the password offline.
                    give_keys(
                        fresh,
                        password=Password(password),
                        mailbox_key=key,
                        mailbox_id=fresh.mailbox_id,
                        secret=ctx.secret,
                        policy=ctx.policy,
                    )
                fresh.last_login_at = now
                key = _with_old_key(tx, key)
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


def _with_old_key(tx: Transaction, key: MailboxPrivateKey) -> MailboxPrivateKey:
    """While a rotation is under way, the old key rides along for what is not re-wrapped
    yet (it rests wrapped to the new key: core.rotation)."""
    rotation = tx.rotation()
    if rotation is None:
        return key
    binding = labels.rotation_old_key(rotation.id, rotation.mailbox_id)
    try:
        old = MailboxPrivateKey(key.unwrap(rotation.old_key_wrap, binding))
    except CannotOpen:
        # Damaged: what is re-wrapped opens, the rest says "cannot be opened"; the
        # rotation command says the same when it tries to go on.
        log.error("the old mailbox key of the rotation under way does not open")
        return key
    return RotatingMailboxKey(key, old)


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
