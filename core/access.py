"""Access for people without an account: a participant's thread key, locked per invitation.

Each participant of a conversation has a random thread key, wrapped to the mailbox (so
staff can add messages) and, per notification, under a key made of the notification's
reference and a server share (core.keys.invitation_key). The desk *invites* (a fresh
reference per notification, never stored); the recipient *unlocks* once a code was
verified, when the share is released.

What decides who can read rests sealed, not in plain columns: the share is bound to
its invitation, participant, conversation, method and expiry (core.labels.share_v2),
and the method the code goes by is read from the sealed contact record. So someone who
can write the database and re-points an invitation, flips a method or moves an expiry
gets an invitation that :func:`check` calls not genuine: the recipient then gets a
decoy, and no code goes anywhere. Revoking and expiry empty the share: nothing in the
database opens that invitation any more.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from core import labels
from core.contact import Contact, open_contact
from core.context import Context
from core.errors import CannotOpen
from core.i18n import speaking
from core.keys import MailboxPrivateKey, MailboxPublicKey, ThreadKey, invitation_key, new_thread_key
from core.mail import notification_email
from core.models import Invitation, Method, Participant
from core.ports import OutboxRecords
from core.references import Reference, new_reference, reference_bytes
from core.server_secret import ServerSecret


def new_participant(
    ctx: Context,
    conversation_id: str,
    contact: Contact,
    method: Method,
    expires_at: datetime,
    mailbox_key: MailboxPublicKey,
    language: str,
) -> tuple[Participant, ThreadKey]:
    """A participant (not stored yet) with sealed contact details and a new thread key."""
    thread_key = new_thread_key()
    participant = Participant(
        conversation_id=conversation_id,
        contact_sealed=b"",
        thread_key_wrapped=b"",
        method=method,
        created_at=ctx.clock(),
        expires_at=expires_at,
        language=language,
    )
    participant.contact_sealed = contact.seal(
        ctx.secret, participant.id, method=method, conversation_id=conversation_id
    )
    participant.thread_key_wrapped = mailbox_key.wrap(thread_key, labels.thread_key(participant.id))
    return participant, thread_key


def thread_key_of(mailbox_key: MailboxPrivateKey, participant: Participant) -> ThreadKey:
    """The participant's thread key, as staff open it."""
    binding = labels.thread_key(participant.id)
    return ThreadKey(mailbox_key.unwrap(participant.thread_key_wrapped, binding))


def invite(
    ctx: Context,
    tx: OutboxRecords,
    *,
    org: str,
    sender: str,
    participant: Participant,
    thread_key: ThreadKey,
    expires_at: datetime,
) -> None:
    """A fresh reference per notification: it is never stored, so it cannot be resent.
    It opens until ``expires_at`` (its own: a later notification does not extend it)."""
    reference = new_reference()
    share = secrets.token_bytes(32)
    invitation = Invitation(
        participant_id=participant.id,
        reference_tag=ctx.secret.tag("reference", reference).hex(),
        share_sealed=b"",
        thread_key_wrap=b"",
        created_at=ctx.clock(),
        # Whole seconds: the binding holds epoch seconds, whatever a database rounds.
        expires_at=expires_at.replace(microsecond=0),
    )
    invitation.share_sealed = ctx.secret.seal(
        share, share_binding(invitation, participant, participant.method)
    )
    lock = invitation_key(reference_bytes(reference), share, invitation.id)
    invitation.thread_key_wrap = lock.wrap(thread_key, labels.invitation_thread_key(invitation.id))
    contact = Contact.unseal(ctx.secret, participant)
    with speaking(participant.language):
        notice = notification_email(
            org=org,
            sender=sender,
            to=contact.email,
            name=contact.name,
            reference=reference,
            ways_in=ctx.ways_in,
        )
    item = ctx.outbox.enqueue_email(tx, notice)
    invitation.notice_outbox_id = item.id
    tx.add(invitation)


def share_binding(invitation: Invitation, participant: Participant, method: Method) -> bytes:
    return labels.share_v2(
        invitation.id,
        participant.id,
        participant.conversation_id,
        method.value,
        int(invitation.expires_at.timestamp()),
    )


@dataclass(frozen=True)
class Checked:
    """An invitation whose rows say what was sealed: who it was sent to, how they verify
    (from the sealed record, never the plain column) and their contact details."""

    invitation: Invitation
    participant: Participant
    method: Method
    contact: Contact = field(repr=False)
    _share: bytes = field(repr=False)


def check(secret: ServerSecret, invitation: Invitation, participant: Participant) -> Checked | None:
    """The invitation checked against what was sealed, or None when its rows were changed
    (or its share destroyed): then it must be treated as a reference nobody knows."""
    if invitation.participant_id != participant.id or not invitation.share_sealed:
        return None
    try:
        sealed = open_contact(secret, participant)
        if sealed.method is None or sealed.method is not participant.method:
            return None  # a method flipped in the plain column, or an old record
        if sealed.conversation_id != participant.conversation_id:
            return None
        binding = share_binding(invitation, participant, sealed.method)
        share = secret.open(invitation.share_sealed, binding)
    except CannotOpen:
        return None
    return Checked(invitation, participant, sealed.method, sealed.contact, share)


def unlock(checked: Checked, reference: Reference) -> ThreadKey:
    """The thread key, from the reference the person typed and the released share.
    Call only after their code was verified, with the invitation checked again then."""
    invitation = checked.invitation
    key = invitation_key(reference_bytes(reference), checked._share, invitation.id)
    binding = labels.invitation_thread_key(invitation.id)
    return ThreadKey(key.unwrap(invitation.thread_key_wrap, binding))
