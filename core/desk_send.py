"""What a desk sends (seed flows 2A and 3, staff side): a new secure message to an
outside person, and a reply in a conversation; apart from core.desk, whose ``Desk``
hands its session's context, staff member and mailbox key to :class:`Outgoing` for
each message.

Sealed once; the content key wrapped for each reader; each reader notified; stored
with core.store's one path (seal, then commit, or discard the blobs).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core import labels
from core.access import invite, new_participant, thread_key_of
from core.audit import Action, pseudonym
from core.contact import Contact, check_contact
from core.context import Context, require_organisation
from core.errors import CannotOpen, InvalidInput
from core.i18n import _, language_for
from core.inbox import who
from core.keys import MailboxPrivateKey, ThreadKey
from core.models import (
    Conversation,
    ConversationState,
    Direction,
    Message,
    Method,
    Participant,
    ParticipantKey,
    StaffMember,
)
from core.pins import sealing_key
from core.ports import Transaction
from core.sealing import Draft, Progress, Sender
from core.store import store_message
from core.stream import ContentKey


def actor_of(staff: StaffMember) -> str:
    """How the audit log names a staff member acting at their desk."""
    return f"staff:{staff.email}"


class Outgoing:
    """One message from one desk session: its context (every transaction checks the
    session, core.session), who writes, and the unlocked mailbox key."""

    def __init__(self, ctx: Context, staff: StaffMember, key: MailboxPrivateKey) -> None:
        self.ctx = ctx
        self.staff = staff
        self._key = key
        self.actor = actor_of(staff)

    def send_new(
        self,
        contact: Contact,
        method: Method,
        draft: Draft,
        expires_in: timedelta | None = None,
        progress: Progress | None = None,
        language: str | None = None,
    ) -> Message:
        """Seed 2A: a new conversation with an outside person, who is notified by e-mail
        (in ``language``; by default Dutch for +31 numbers and .nl addresses)."""
        contact = check_contact(contact, method)
        language = language or language_for(contact.email, contact.phone)
        expires_in = self._check_expiry(expires_in)
        now = self.ctx.clock()
        with self.ctx.repo.transaction() as tx:
            _org, mailbox = require_organisation(tx)
        # We wrote: their move, and the writer handles it.
        conversation = Conversation(
            mailbox_id=mailbox.id,
            created_at=now,
            last_message_at=now,
            subject_tag=pseudonym(self.ctx.secret, contact.email),
            state=ConversationState.WAITING,
            assignee_id=self.staff.id,
        )
        participant, thread_key = new_participant(
            self.ctx,
            conversation.id,
            contact,
            method,
            now + expires_in,
            sealing_key(self.ctx.secret, mailbox),
            language,
        )
        return self._send(
            conversation,
            [(participant, thread_key)],
            draft,
            progress,
            new={conversation.id, participant.id},
        )

    def reply(
        self, conversation_id: str, draft: Draft, progress: Progress | None = None
    ) -> Message:
        """Seed 3, staff side: answer in a conversation. A guest of flow 1 has no access
        yet; they get it now, verifying by e-mail code (no phone is on file)."""
        now = self.ctx.clock()
        with self.ctx.repo.transaction() as tx:
            _org, mailbox = require_organisation(tx)
            conversation = tx.conversation(conversation_id)
            if conversation is None:
                raise CannotOpen("no such conversation")
            everyone = tx.participants_in(conversation_id)
            messages = tx.messages_in(conversation_id)
        participants = [p for p in everyone if p.revoked_at is None]
        if everyone and not participants:
            # Revoking is final for this conversation: a reply must not quietly give the
            # same person access again (and by a weaker method). A new message can.
            raise InvalidInput(
                _("Access to this conversation was revoked. Send a new secure message instead.")
            )
        readers = [(p, thread_key_of(self._key, p)) for p in participants]
        new: set[str] = set()
        if not readers:
            name, email = who(self.ctx, self._key, messages, [])
            contact = Contact(email=email, name=name)
            if not conversation.subject_tag and contact.email:
                # A conversation from before issue 18: name its person from now on.
                conversation.subject_tag = pseudonym(self.ctx.secret, contact.email)
            readers.append(
                new_participant(
                    self.ctx,
                    conversation_id,
                    contact,
                    Method.EMAIL,
                    now + self.ctx.policy.message_expiry_default,
                    sealing_key(self.ctx.secret, mailbox),
                    language_for(contact.email),
                )
            )
            new.add(readers[0][0].id)
        for participant, _thread_key in readers:
            # The reply's notification opens for the default period; earlier references
            # keep their own expiry (bound in their share). The participant's date is
            # the newest of them, for *Sent*.
            participant.expires_at = max(
                participant.expires_at, now + self.ctx.policy.message_expiry_default
            )
        return self._send(conversation, readers, draft, progress, new=new)

    def _answered(self, tx: Transaction, conversation_id: str, now: datetime) -> None:
        """The desk replied: waiting for them, handled by whoever replied if nobody did,
        and its new subject for the search index. Read again inside the transaction,
        so a colleague's take or close in the meantime is not written over."""
        conversation = tx.conversation(conversation_id)
        if conversation is None:
            raise CannotOpen("no such conversation")
        conversation.last_message_at = now
        conversation.state = ConversationState.WAITING
        conversation.indexed_under = b""
        if conversation.assignee_id is None:
            conversation.assignee_id = self.staff.id
            self.ctx.audit.append(tx, self.actor, Action.TAKEN, conversation_id, "by replying")
        tx.save_conversation(conversation)

    def _check_expiry(self, expires_in: timedelta | None) -> timedelta:
        if expires_in is None:
            return self.ctx.policy.message_expiry_default
        if not timedelta(days=1) <= expires_in <= self.ctx.policy.message_expiry_max:
            raise InvalidInput(
                _("A message can stay available between 1 and {days} days.").format(
                    days=self.ctx.policy.message_expiry_max.days
                )
            )
        return expires_in

    def _send(
        self,
        conversation: Conversation,
        readers: list[tuple[Participant, ThreadKey]],
        draft: Draft,
        progress: Progress | None,
        *,
        new: set[str],
    ) -> Message:
        """Seal once; wrap the content key for each reader; notify each. ``new`` holds the
        ids of the conversation and participants that do not exist in storage yet."""
        draft.check(self.ctx.policy)
        now = self.ctx.clock()
        with self.ctx.repo.transaction() as tx:
            org, mailbox = require_organisation(tx)
        message = Message(
            conversation_id=conversation.id,
            direction=Direction.OUTBOUND,
            wrapped_key=b"",
            created_at=now,
            author_id=self.staff.id,
        )

        def record(tx: Transaction, content_key: ContentKey) -> None:
            if conversation.id in new:
                tx.add(conversation)
            else:
                self._answered(tx, conversation.id, now)
            tx.add(message)
            binding = labels.thread_content(message.id)
            for participant, thread_key in readers:
                if participant.id in new:
                    tx.add(participant)
                else:
                    tx.save_participant(participant)
                tx.add(
                    ParticipantKey(
                        message_id=message.id,
                        participant_id=participant.id,
                        wrapped=thread_key.wrap(content_key, binding),
                    )
                )
                invite(
                    self.ctx,
                    tx,
                    org=org.name,
                    sender=mailbox.address,
                    participant=participant,
                    thread_key=thread_key,
                    expires_at=participant.expires_at,
                    message_id=message.id,
                )

        sender = Sender(org.name, mailbox.address)
        audit = (self.actor, Action.MESSAGE_SENT)
        store_message(
            self.ctx,
            message,
            draft,
            mailbox=mailbox,
            sender=sender,
            record=record,
            audit=audit,
            progress=progress,
        )
        return message
