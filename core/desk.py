"""The support desk (seed flows 2 and 3, the organisation's side).

Staff log in with e-mail, password and TOTP (core.login); the password unwraps the
mailbox key for this session only. Then: an inbox of conversations, reading them,
replying, sending new secure messages to outside people, the *Sent* overview, and
revoking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from core import labels
from core.access import invite, new_participant, thread_key_of
from core.audit import Action
from core.contact import Contact, check_contact
from core.context import Context, require_organisation
from core.errors import CannotOpen, InvalidInput
from core.i18n import _, language_for
from core.keys import MailboxPrivateKey, ThreadKey
from core.lockout import unlock_recipient
from core.login import log_in
from core.models import (
    Conversation,
    Direction,
    Message,
    Method,
    Participant,
    ParticipantKey,
    StaffMember,
)
from core.pins import sealing_key
from core.ports import Transaction
from core.sealing import Draft, OpenedMessage, Progress, Sender, open_message, open_sender
from core.store import store_message
from core.stream import ContentKey


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    # The outside person (decrypted for this session only): never in a repr.
    who: str = field(repr=False)
    email: str = field(repr=False)
    when: datetime
    unread: bool
    attachments: int
    last_direction: Direction


@dataclass
class ThreadView:
    conversation: Conversation
    messages: list[tuple[OpenedMessage, ContentKey]] = field(default_factory=list)
    participants: list[tuple[Participant, Contact]] = field(default_factory=list)
    damaged: list[Message] = field(default_factory=list)  # altered or missing on disk


@dataclass(frozen=True)
class SentRow:
    participant: Participant
    contact: Contact
    subject: str = field(repr=False)  # plaintext: never in a repr (see core.sealing)
    notified_at: datetime | None
    opened_at: datetime | None
    verified_via: Method | None
    replied_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime
    damaged: bool = False  # its first message cannot be opened (altered or missing on disk)


class Desk:
    """One logged-in staff member with the unlocked mailbox key."""

    def __init__(self, ctx: Context, staff: StaffMember, key: MailboxPrivateKey) -> None:
        self.ctx = ctx
        self.staff = staff
        self._key = key

    @property
    def actor(self) -> str:
        return f"staff:{self.staff.email}"

    # --- log in --------------------------------------------------------------------

    @classmethod
    def login(cls, ctx: Context, email: str, password: str, totp_code: str) -> Desk:
        """Password and TOTP, or :class:`LoginFailed` — the same for every kind of wrong
        (core.login)."""
        staff, key = log_in(ctx, email, password, totp_code)
        return cls(ctx, staff, key)

    # --- reading -------------------------------------------------------------------

    def inbox(self, limit: int = 50, offset: int = 0) -> list[InboxRow]:
        rows = []
        # One transaction and a few queries for the page, whatever its length: the inbox
        # stays as fast at 100,000 conversations as at ten (docs/PERFORMANCE.md).
        with self.ctx.repo.transaction() as tx:
            conversations = tx.conversations(limit=limit, offset=offset)
            ids = [c.id for c in conversations]
            firsts = tx.messages_of(ids)
            people = tx.participants_of(ids)
        for conversation in conversations:
            messages = firsts.get(conversation.id, [])
            if not messages:
                continue
            who, email = self._who(conversation, messages, people.get(conversation.id, []))
            rows.append(
                InboxRow(
                    conversation=conversation,
                    who=who,
                    email=email,
                    when=messages[-1].created_at,
                    unread=conversation.unread,
                    attachments=sum(m.attachment_count for m in messages),
                    last_direction=messages[-1].direction,
                )
            )
        return rows

    def _who(
        self,
        conversation: Conversation,
        messages: list[Message],
        participants: list[Participant] | None = None,
    ) -> tuple[str, str]:
        """The outside person: the sender of the first inbound message, or the first participant."""
        if participants is None:
            with self.ctx.repo.transaction() as tx:
                participants = tx.participants_in(conversation.id)
        if participants:
            contact = Contact.unseal(self.ctx.secret, participants[0])
            return contact.name or contact.email, contact.email
        inbound = next((m for m in messages if m.direction is Direction.INBOUND), messages[0])
        try:
            sender = open_sender(
                blobs=self.ctx.blobs, mailbox_key=self._key, message=inbound, secret=self.ctx.secret
            )
        except CannotOpen:
            # One damaged message must not take the whole inbox down with it: the row
            # stays, and opening it says what is wrong.
            return _("(cannot be opened)"), ""
        return sender.name, sender.email

    def thread(self, conversation_id: str) -> ThreadView:
        """Open every message of a conversation and mark it read."""
        with self.ctx.repo.transaction() as tx:
            conversation = tx.conversation(conversation_id)
            if conversation is None:
                raise CannotOpen("no such conversation")
            messages = tx.messages_in(conversation_id)
            participants = tx.participants_in(conversation_id)
            if conversation.unread:
                conversation.unread = False
                tx.save_conversation(conversation)
            self.ctx.audit.append(tx, self.actor, Action.OPENED, conversation_id)
        view = ThreadView(conversation=conversation)
        for message in messages:
            # One damaged message does not hide the rest of the conversation.
            try:
                view.messages.append(self._open(message))
            except CannotOpen:
                view.damaged.append(message)
        view.participants = [(p, Contact.unseal(self.ctx.secret, p)) for p in participants]
        return view

    def _open(self, message: Message) -> tuple[OpenedMessage, ContentKey]:
        """A message opened with the session's key, if its origin tag says veilig stored it."""
        blobs, secret = self.ctx.blobs, self.ctx.secret
        return open_message(blobs=blobs, mailbox_key=self._key, message=message, secret=secret)

    def save_attachment(
        self, opened: OpenedMessage, key: ContentKey, position: int, folder: Path
    ) -> Path:
        return self.ctx.save_attachment(self.actor, opened, key, position, folder)

    # --- sending ---------------------------------------------------------------------

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
        conversation = Conversation(mailbox_id=mailbox.id, created_at=now, last_message_at=now)
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
            guest = self._who(conversation, messages)
            contact = Contact(email=guest[1], name=guest[0])
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
        conversation.last_message_at = now
        return self._send(conversation, readers, draft, progress, new=new)

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
                tx.save_conversation(conversation)
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

    # --- the Sent overview and revoking ---------------------------------------------

    def sent(self, limit: int = 50, offset: int = 0) -> list[SentRow]:
        rows = []
        # One transaction and a few queries for the page, whatever its length, as the
        # inbox: participants, when each was last notified, their conversations' messages.
        with self.ctx.repo.transaction() as tx:
            participants = tx.participants(limit=limit, offset=offset)
            notified = tx.last_notified([p.id for p in participants])
            messages = tx.messages_of(list({p.conversation_id: None for p in participants}))
        for p in participants:
            first_out = next(
                (
                    m
                    for m in messages.get(p.conversation_id, [])
                    if m.direction is Direction.OUTBOUND
                ),
                None,
            )
            subject, damaged = "", False
            if first_out is not None:
                try:
                    subject = self._open(first_out)[0].subject
                except CannotOpen:
                    # One damaged message must not empty the whole view (as in the inbox):
                    # the row stays, marked, and the others show as ever.
                    damaged = True
            rows.append(
                SentRow(
                    participant=p,
                    contact=Contact.unseal(self.ctx.secret, p),
                    subject=subject,
                    notified_at=notified.get(p.id),
                    opened_at=p.opened_at,
                    verified_via=p.verified_via,
                    replied_at=p.replied_at,
                    revoked_at=p.revoked_at,
                    expires_at=p.expires_at,
                    damaged=damaged,
                )
            )
        return rows

    def revoke(self, participant_id: str) -> None:
        """From now on no reference of this person opens anything, with or without a code:
        every share of theirs is destroyed, so clearing ``revoked_at`` in the database
        does not bring it back."""
        with self.ctx.repo.transaction() as tx:
            participant = tx.participant(participant_id)
            if participant is None:
                raise CannotOpen("no such recipient")
            tx.destroy_shares(participant.id)
            if participant.revoked_at is None:
                participant.revoked_at = self.ctx.clock()
                tx.save_participant(participant)
                self.ctx.audit.append(tx, self.actor, Action.REVOKE, participant.conversation_id)

    def unlock(self, participant_id: str) -> bool:
        """Let a recipient locked after too many wrong codes ask for codes again."""
        with self.ctx.repo.transaction() as tx:
            return unlock_recipient(self.ctx, tx, self.actor, participant_id)
