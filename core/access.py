"""Access for people without an account: a participant's thread key, locked per invitation.

Each participant of a conversation has a random thread key, wrapped to the mailbox (so
staff can add messages) and, per notification, under a key made of the notification's
reference and a server share (core.keys.invitation_key). The desk *invites* (a fresh
reference per notification, never stored); the recipient *unlocks* once a code was
verified, when the share is released.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from core import labels
from core.contact import Contact
from core.context import Context
from core.i18n import speaking
from core.keys import MailboxPrivateKey, MailboxPublicKey, ThreadKey, invitation_key, new_thread_key
from core.mail import notification_email
from core.models import Invitation, Method, Participant
from core.ports import OutboxRecords
from core.references import Reference, new_reference, reference_bytes


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
    participant.contact_sealed = contact.seal(ctx.secret, participant.id)
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
) -> None:
    """A fresh reference per notification: it is never stored, so it cannot be resent."""
    reference = new_reference()
    share = secrets.token_bytes(32)
    invitation = Invitation(
        participant_id=participant.id,
        reference_tag=ctx.secret.tag("reference", reference).hex(),
        share_sealed=b"",
        thread_key_wrap=b"",
        created_at=ctx.clock(),
    )
    invitation.share_sealed = ctx.secret.seal(share, labels.share(invitation.id))
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
            available_until=participant.expires_at,
        )
    item = ctx.outbox.enqueue_email(tx, notice)
    invitation.notice_outbox_id = item.id
    tx.add(invitation)


def unlock(ctx: Context, invitation: Invitation, reference: Reference) -> ThreadKey:
    """The thread key, from the reference the person typed and the released share.
    Call only after their code was verified."""
    share = ctx.secret.open(invitation.share_sealed, labels.share(invitation.id))
    key = invitation_key(reference_bytes(reference), share, invitation.id)
    binding = labels.invitation_thread_key(invitation.id)
    return ThreadKey(key.unwrap(invitation.thread_key_wrap, binding))
