"""Opening a secure message as an outside person (seed 2B–2D) and replying (seed 3A).

reference -> "we will send a code to +31 6 •• •• •1 27, is that your number?" ->
the code by SMS (or e-mail) -> unlock: the server share is released, with the
reference it opens the thread key -> the messages and their attachments -> reply.

An unknown reference gets a decoy: the same question with a made-up masked number,
a code that is never sent and never matches. So the answer to a reference does not
tell whether it exists. Expired and revoked messages say so plainly: only someone
who holds a real reference (a 160-bit secret) can learn that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from core import labels
from core.access import unlock
from core.audit import Action
from core.codes import IssuedCode
from core.contact import Contact
from core.context import Context, require_organisation
from core.errors import CannotOpen, CodeRejected, RateLimited, VeiligError
from core.i18n import _, speaking
from core.keys import ThreadKey
from core.mail import new_message_id, open_code_email, open_code_sms, reply_notice
from core.models import (
    Channel,
    Direction,
    Invitation,
    Message,
    Method,
    Participant,
    ParticipantKey,
    Purpose,
)
from core.ports import Transaction
from core.references import Reference, parse_reference
from core.sealing import Draft, OpenedMessage, Progress, Sender, read_message
from core.sms import Sms
from core.store import Receipt, store_message
from core.stream import ContentKey


class MessageUnavailable(VeiligError):
    """The message was withdrawn or is past its date."""

    EXPIRED = "expired"
    REVOKED = "revoked"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(unavailable_message(self))


@dataclass(frozen=True)
class Invited:
    """What a reference leads to, before any code: where the code will go."""

    # Half of the thread key: repr=False keeps it out of tracebacks that show locals.
    reference: Reference = field(repr=False)
    org_name: str
    method: Method
    masked_destination: str
    _invitation: Invitation | None = field(default=None, repr=False)  # None: a decoy
    _participant: Participant | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CodeSent:
    invited: Invited
    challenge_id: str


@dataclass
class OpenThread:
    """An unlocked conversation: the thread key lives in this object only."""

    invited: Invited
    participant: Participant
    _thread_key: ThreadKey = field(repr=False)


@dataclass
class ThreadMessages:
    """What an unlocked recipient can read: the messages that open, oldest first, and
    those that do not (changed or damaged on disk), set apart."""

    opened: list[tuple[OpenedMessage, ContentKey]] = field(default_factory=list)
    damaged: list[Message] = field(default_factory=list)


def _decoy_contact(ctx: Context, reference: Reference) -> Contact:
    """A made-up Dutch mobile number, the same for the same reference each time."""
    digits = ctx.secret.tag("decoy", reference)
    return Contact(email="", phone="+316" + "".join(str(b % 10) for b in digits[:8]))


class Recipient:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def lookup(self, typed: str) -> Invited:
        reference = parse_reference(typed)
        tag = self.ctx.secret.tag("reference", reference).hex()
        with self.ctx.repo.transaction() as tx:
            org, _mailbox = require_organisation(tx)
            invitation = tx.invitation_by_tag(tag)
            # An unknown reference runs the same queries and the same masking as a known
            # one, so the time to answer does not tell them apart either (measured in
            # tests/abuse/test_enumeration.py).
            participant = tx.participant(invitation.participant_id if invitation else tag)
        if invitation is None or participant is None:
            decoy = _decoy_contact(self.ctx, reference)
            return Invited(reference, org.name, Method.SMS, decoy.masked_destination(Method.SMS))
        self._check_available(participant)
        contact = Contact.unseal(self.ctx.secret, participant)
        return Invited(
            reference,
            org.name,
            participant.method,
            contact.masked_destination(participant.method),
            invitation,
            participant,
        )

    def _check_available(self, participant: Participant) -> None:
        if participant.revoked_at is not None:
            raise MessageUnavailable(MessageUnavailable.REVOKED)
        if self.ctx.clock() >= participant.expires_at:
            raise MessageUnavailable(MessageUnavailable.EXPIRED)

    def request_code(self, invited: Invited) -> CodeSent:
        """Seed 2B, *get the code*. Limits count per destination; a decoy's per reference."""
        minutes = int(self.ctx.policy.code_lifetime.total_seconds() // 60)
        with self.ctx.repo.transaction() as tx:
            participant = invited._participant
            if participant is None or participant.method is Method.SMS:
                # Before the per-number limit, and for decoys too (they pose as SMS), so a
                # capped hour answers alike for known and unknown references.
                self._check_sms_budget(tx)
            if participant is None:
                issued = self.ctx.codes.issue(tx, Purpose.OPEN, f"decoy:{invited.reference}")
                return CodeSent(invited, issued.challenge.id)  # nothing is sent anywhere
            participant = tx.participant(participant.id) or participant
            self._check_available(participant)
            contact = Contact.unseal(self.ctx.secret, participant)
            with speaking(participant.language):
                issued = self._send_code(tx, invited, participant, contact, minutes)
            actor = f"recipient:{participant.id}"
            self.ctx.audit.append(
                tx, actor, Action.CODE_SENT, participant.conversation_id, participant.method
            )
        return CodeSent(invited, issued.challenge.id)

    def _check_sms_budget(self, tx: Transaction) -> None:
        """The circuit breaker against SMS cost pumping (``Policy.sms_per_hour``)."""
        now = self.ctx.clock()
        queued = tx.outbox_queued_since(Channel.SMS, now - timedelta(hours=1))
        if len(queued) >= self.ctx.policy.sms_per_hour:
            wait = min(queued) + timedelta(hours=1) - now
            raise RateLimited("too many text messages this hour", int(wait.total_seconds()) + 1)

    def _send_code(
        self,
        tx: Transaction,
        invited: Invited,
        participant: Participant,
        contact: Contact,
        minutes: int,
    ) -> IssuedCode:
        """The code by SMS or e-mail, through the outbox (in the caller's language)."""
        if participant.method is Method.SMS:
            issued = self.ctx.codes.issue(tx, Purpose.OPEN, contact.phone)
            body = open_code_sms(org=invited.org_name, code=issued.code, minutes=minutes)
            sms = Sms(to=contact.phone, body=body, message_id=new_message_id("sms.invalid"))
            self.ctx.outbox.enqueue_sms(tx, sms)
            return issued
        issued = self.ctx.codes.issue(tx, Purpose.OPEN, contact.email)
        _org, mailbox = require_organisation(tx)
        mail = open_code_email(
            org=invited.org_name,
            sender=mailbox.address,
            to=contact.email,
            code=issued.code,
            minutes=minutes,
            ways_in=self.ctx.ways_in,
        )
        self.ctx.outbox.enqueue_email(tx, mail)
        return issued

    def verify(self, sent: CodeSent, typed: str) -> OpenThread:
        """Seed 2C, *unlock*: a right code releases the server share, and only then."""
        invited = sent.invited
        if not self.ctx.codes.looks_like_a_code(typed):
            raise CodeRejected(CodeRejected.MALFORMED, self.ctx.policy.code_attempts)
        rejected: VeiligError | None = None
        with self.ctx.repo.transaction() as tx:
            try:
                self.ctx.codes.check(tx, sent.challenge_id, typed)
            except CodeRejected as exc:
                rejected = exc
            participant = tx.participant(invited._participant.id) if invited._participant else None
            if participant is None:
                # A decoy: its code was never sent; even a lucky guess opens nothing.
                rejected = rejected or CodeRejected(CodeRejected.WRONG, 0)
            else:
                actor = f"recipient:{participant.id}"
                action = Action.CODE_FAILED if rejected else Action.CODE_VERIFIED
                self.ctx.audit.append(tx, actor, action, participant.conversation_id)
        if rejected:
            raise rejected
        assert participant is not None and invited._invitation is not None
        self._check_available(participant)  # revoked while the code was on its way
        thread_key = unlock(self.ctx, invited._invitation, invited.reference)
        with self.ctx.repo.transaction() as tx:
            fresh = tx.participant(participant.id)
            assert fresh is not None
            if fresh.opened_at is None:
                fresh.opened_at = self.ctx.clock()
                fresh.verified_via = fresh.method
                tx.save_participant(fresh)
            self.ctx.audit.append(
                tx, f"recipient:{fresh.id}", Action.OPENED, fresh.conversation_id, fresh.method
            )
        return OpenThread(invited, fresh, thread_key)

    def messages(self, thread: OpenThread) -> list[tuple[OpenedMessage, ContentKey]]:
        """Seed 2D: every message of the conversation this person may read, oldest first.
        Raises CannotOpen when one of them does not open (``read`` sets it apart)."""
        read = self.read(thread)
        if read.damaged:
            raise CannotOpen("damaged")
        return read.opened

    def read(self, thread: OpenThread) -> ThreadMessages:
        """Seed 2D as the screen shows it: one damaged message hides none of the others."""
        self._recheck(thread)
        with self.ctx.repo.transaction() as tx:
            keys = tx.participant_keys(thread.participant.id)
            messages = [
                m for m in tx.messages_in(thread.participant.conversation_id) if m.id in keys
            ]
        read = ThreadMessages()
        for message in messages:
            try:
                binding = labels.thread_content(message.id)
                key = ContentKey(thread._thread_key.unwrap(keys[message.id], binding))
                read.opened.append(
                    (read_message(blobs=self.ctx.blobs, key=key, message=message), key)
                )
            except CannotOpen:
                read.damaged.append(message)
        return read

    def _recheck(self, thread: OpenThread) -> None:
        with self.ctx.repo.transaction() as tx:
            participant = tx.participant(thread.participant.id)
        if participant is None:
            raise CannotOpen("no such recipient")
        self._check_available(participant)

    def save_attachment(
        self,
        thread: OpenThread,
        opened: OpenedMessage,
        key: ContentKey,
        position: int,
        folder: Path,
    ) -> Path:
        self._recheck(thread)
        actor = f"recipient:{thread.participant.id}"
        return self.ctx.save_attachment(actor, opened, key, position, folder)

    def reply(self, thread: OpenThread, draft: Draft, progress: Progress | None = None) -> Receipt:
        """Seed 3A: answer from the same screen, sealed for the mailbox and this thread."""
        self._recheck(thread)
        draft.check(self.ctx.policy)
        now = self.ctx.clock()
        participant = thread.participant
        contact = Contact.unseal(self.ctx.secret, participant)
        with self.ctx.repo.transaction() as tx:
            org, mailbox = require_organisation(tx)
        message = Message(
            conversation_id=participant.conversation_id,
            direction=Direction.INBOUND,
            wrapped_key=b"",
            created_at=now,
        )

        def record(tx: Transaction, content_key: ContentKey) -> None:
            tx.add(message)
            binding = labels.thread_content(message.id)
            tx.add(
                ParticipantKey(
                    message_id=message.id,
                    participant_id=participant.id,
                    wrapped=thread._thread_key.wrap(content_key, binding),
                )
            )
            conversation = tx.conversation(participant.conversation_id)
            assert conversation is not None
            conversation.unread, conversation.last_message_at = True, now
            tx.save_conversation(conversation)
            fresh = tx.participant(participant.id)
            assert fresh is not None
            fresh.replied_at = now
            tx.save_participant(fresh)
            self.ctx.outbox.enqueue_email(tx, reply_notice(org=org.name, mailbox=mailbox.address))

        sender = Sender(contact.name or contact.email, contact.email)
        audit = (f"recipient:{participant.id}", Action.REPLY)
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
        return Receipt(message_id=message.id, received_at=now, attachments=message.attachment_count)


def unavailable_message(exc: MessageUnavailable) -> str:
    if exc.reason == MessageUnavailable.REVOKED:
        return _("This message was withdrawn by the sender. Contact them if you still need it.")
    return _(
        "This message is no longer available: its time has passed. Ask the sender to send it again."
    )
