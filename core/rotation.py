"""``veilig mailbox rotate``: a new mailbox key pair, every wrap moved to it, the old
private key destroyed; resumable after a kill.

When: someone who held the mailbox key left and could have kept a copy (it lives in
every desk's memory), or the key may have leaked. After a rotation the old private key
opens nothing in the database, and nothing new is sealed to it.

How, in two steps:

1. **Start** (one transaction, by an admin who unlocked the old key with password and
   TOTP): a new key pair; the old private key wrapped to the new public key and stored
   in a rotation row (:class:`core.models.MailboxRotation`), so that whoever holds the
   new key reads what is not re-wrapped yet; the new private key wrapped to every staff
   member's own public key (pinned; core.staff_keys: no password needed); pending
   staff invitations withdrawn (their wraps are under codes nobody stores, so they
   cannot be moved: invite again); a **new recovery key** (below); the new public key
   in the mailbox row, pinned. From this commit on, everything is sealed to the new
   key, staff log in to the new key (with the old one riding along: core.login), and
   open desks with the old key must log in again (core.session).
2. **Re-wrap** (batches, in id order): each message's content key and each
   participant's thread key, opened with the old key and wrapped to the new one under
   the same binding; a message's origin tag is checked first and made again after
   (its wrapped key is part of it: core.pins). Each batch commits with a cursor in the
   rotation row, so a kill loses at most the batch under way, which the next run does
   again: wraps are read in one transaction, re-wrapped outside it, and written in
   another only if the cursor has not moved (a second process rotating at the same
   time skips ahead rather than writing twice). A wrap that opens with the new key
   already (sealed during the rotation) is left; one that opens with neither (damaged
   before) is left and counted. Then the rotation row goes, and with it the last copy
   of the old private key, and so do the search tokens and headings made with keys
   derived from it (core.search, core.heading: the next desk indexes again); the
   database's files are scrubbed (storage: secure_delete and a checkpoint).

The recovery key changes with every rotation. It opens the mailbox key, and whoever
saw it (the admin who ran ``init``, anyone who had the paper) is exactly who a rotation
after a departure guards against; keeping it would also need it typed at every
rotation, since its wrap is symmetric. The new one is shown before the start commits,
as ``init`` does: if it cannot be shown, nothing changes.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from core import labels
from core.audit import Action
from core.context import Context, require_organisation
from core.errors import CannotOpen, InvalidInput, KeyDamaged
from core.i18n import _
from core.keys import (
    MailboxPrivateKey,
    MailboxPublicKey,
    RecoveryKey,
    RotatingMailboxKey,
    new_recovery_key,
)
from core.models import MailboxRotation, Message, Participant
from core.pins import check_origin, pin_mailbox, sealing_key, sign_origin
from core.sealing import content_binding
from core.search import SearchKey
from core.staff_keys import hand_mailbox_key

BATCH = 500  # wraps per transaction: ~0.3 s of crypto, the write lock held only to write

Progress = Callable[[int, int], None]  # wraps done, wraps in all


@dataclass(frozen=True)
class Started:
    """What the admin must see before the start commits."""

    recovery_key: RecoveryKey = field(repr=False)
    withdrawn: list[str]  # the addresses whose pending invitations were withdrawn


@dataclass(frozen=True)
class Finished:
    messages: int
    participants: int
    damaged: int


def in_progress(ctx: Context) -> bool:
    with ctx.repo.transaction() as tx:
        return tx.rotation() is not None


def start(
    ctx: Context, key: MailboxPrivateKey, actor: str, show: Callable[[Started], None]
) -> RotatingMailboxKey:
    """Step 1 (see the module). ``key`` is the mailbox key the admin unlocked. Refused
    while a rotation is under way (finish it: :func:`run`), and while someone still
    holds a wrap from before format 3 (they log in once, or are reset: their wrap is
    the mailbox key under their password, which no admin can move)."""
    with ctx.repo.transaction() as tx:
        members = [s for s in tx.all_staff() if s.active]
    old_format = sorted(s.email for s in members if not s.public_key)
    if old_format:
        raise InvalidInput(
            _(
                "These staff members have not logged in since the upgrade, so their key "
                "cannot be moved: {emails}. Ask them to log in once, or reset them."
            ).format(emails=", ".join(old_format))
        )
    new = MailboxPrivateKey.generate()
    recovery = new_recovery_key()
    with ctx.repo.transaction() as tx:
        if tx.rotation() is not None:
            raise InvalidInput(_("A rotation is under way already: run the command again."))
        _org, mailbox = require_organisation(tx)
        if isinstance(key, RotatingMailboxKey) or not hmac.compare_digest(
            key.public_key().raw, sealing_key(ctx.secret, mailbox).raw
        ):
            raise KeyDamaged("the key to rotate from is not the mailbox key")
        rotation = MailboxRotation(
            mailbox_id=mailbox.id, old_key_wrap=b"", started_at=ctx.clock(), started_by=actor
        )
        rotation.old_key_wrap = new.public_key().wrap(
            key.raw_bytes(), labels.rotation_old_key(rotation.id, mailbox.id)
        )
        for staff in tx.all_staff():
            if staff.active:
                hand_mailbox_key(staff, new, mailbox.id, ctx.secret)
                tx.save_staff(staff)
        withdrawn = []
        for invitation in tx.staff_invitations():
            tx.destroy_staff_invitation(invitation.id)
            invited = tx.staff(invitation.staff_id)
            withdrawn.append(invited.email if invited else "?")
            detail = f"staff:{withdrawn[-1]} (mailbox key rotated)"
            ctx.audit.append(tx, actor, Action.STAFF_INVITATION_DESTROYED, detail=detail)
        mailbox.public_key = new.public_key().raw
        mailbox.recovery_wrap = recovery.wrap(new.raw_bytes(), labels.recovery_wrap(mailbox.id))
        pin_mailbox(ctx.secret, mailbox)
        tx.save_mailbox(mailbox)
        tx.add(rotation)
        ctx.audit.append(tx, actor, Action.MAILBOX_ROTATION_STARTED)
        show(Started(recovery, sorted(withdrawn)))
    ctx.repo.scrub()
    return RotatingMailboxKey(new, key)


def run(
    ctx: Context, key: MailboxPrivateKey, actor: str, progress: Progress | None = None
) -> Finished:
    """Step 2 (see the module), from where the rotation row says, to the end. ``key``
    is the admin's key as the log-in (or :func:`start`) gave it: the new key with the
    old riding along."""
    if not isinstance(key, RotatingMailboxKey):
        raise InvalidInput(_("No rotation is under way."))
    new, old = key.settled(), key.old
    to = new.public_key()  # derived once: it costs as much as a wrap
    with ctx.repo.transaction() as tx:
        total = tx.count_messages() + tx.count_participants()
    _walk(ctx, "messages", lambda m: _rewrap_message(ctx, new, to, old, m), total, progress)
    _walk(ctx, "participants", lambda p: _rewrap_participant(new, to, old, p), total, progress)
    with ctx.repo.transaction() as tx:
        rotation = tx.rotation()
        if rotation is None:  # another process finished it meanwhile
            return Finished(0, 0, 0)
        tx.delete_rotation(rotation.id)
        # The search tokens and headings made with the old key's derived keys: the old
        # key could test guesses against the one and open the other (core.heading). The
        # next desk's index round makes them again under the new key.
        tx.forget_index_except(SearchKey.of(new).key_id)
        done = Finished(rotation.messages_done, rotation.participants_done, rotation.damaged)
        detail = f"{done.messages} messages, {done.participants} participants"
        detail += f", {done.damaged} damaged" if done.damaged else ""
        ctx.audit.append(tx, actor, Action.MAILBOX_ROTATED, detail=detail)
    ctx.repo.scrub()
    return done


# One row's new wrap: bytes to write (None: leave it), and whether it was damaged.
Rewrapped = tuple[bytes | None, bool]


def _walk(
    ctx: Context,
    kind: str,
    rewrap: Callable[[Message], Rewrapped] | Callable[[Participant], Rewrapped],
    total: int,
    progress: Progress | None,
) -> None:
    while True:
        with ctx.repo.transaction() as tx:
            rotation = tx.rotation()
            if rotation is None:
                return
            cursor = rotation.message_cursor if kind == "messages" else rotation.participant_cursor
            rows: list[Message] | list[Participant] = (
                tx.message_keys_after(cursor, BATCH)
                if kind == "messages"
                else tx.participants_after(cursor, BATCH)
            )
        if not rows:
            return
        results = [(row, rewrap(row)) for row in rows]  # type: ignore[arg-type]
        with ctx.repo.transaction() as tx:
            rotation = tx.rotation()
            if rotation is None:
                return
            now_at = rotation.message_cursor if kind == "messages" else rotation.participant_cursor
            if now_at != cursor:
                continue  # another process did this batch: go on from where it got
            rotation.damaged += sum(damaged for _row, (_wrapped, damaged) in results)
            done_rows = [(row, wrapped) for row, (wrapped, _d) in results if wrapped is not None]
            tx.rewrap_messages(
                [(r.id, w, r.origin_mac) for r, w in done_rows if isinstance(r, Message)]
            )
            tx.rewrap_participants([(r.id, w) for r, w in done_rows if isinstance(r, Participant)])
            if kind == "messages":
                rotation.message_cursor = rows[-1].id
                rotation.messages_done += len(rows)
            else:
                rotation.participant_cursor = rows[-1].id
                rotation.participants_done += len(rows)
            tx.save_rotation(rotation)
            done = rotation.messages_done + rotation.participants_done
        if progress is not None:
            progress(min(done, total), max(total, done))


def _rewrap_message(
    ctx: Context,
    new: MailboxPrivateKey,
    to: MailboxPublicKey,
    old: MailboxPrivateKey,
    message: Message,
) -> Rewrapped:
    binding = content_binding(message)
    try:
        # Only what veilig stored is carried over: a row someone inserted or changed
        # would otherwise get a fresh origin tag from the rotation.
        check_origin(ctx.secret, message)
        content_key = old.unwrap(message.wrapped_key, binding)
    except CannotOpen:
        return None, not _opens(new, message.wrapped_key, binding)
    message.wrapped_key = to.wrap(content_key, binding)
    sign_origin(ctx.secret, message)  # sets message.origin_mac, written with the wrap
    return message.wrapped_key, False


def _rewrap_participant(
    new: MailboxPrivateKey, to: MailboxPublicKey, old: MailboxPrivateKey, participant: Participant
) -> Rewrapped:
    binding = labels.thread_key(participant.id)
    try:
        thread_key = old.unwrap(participant.thread_key_wrapped, binding)
    except CannotOpen:
        return None, not _opens(new, participant.thread_key_wrapped, binding)
    return to.wrap(thread_key, binding), False


def _opens(key: MailboxPrivateKey, wrapped: bytes, binding: bytes) -> bool:
    try:
        key.unwrap(wrapped, binding)
    except CannotOpen:
        return False
    return True
