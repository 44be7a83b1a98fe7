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

from typing import TYPE_CHECKING

from core.context import Context, require_organisation
from core.drafts import Draft, OpenedMessage, Progress, Receipt
from core.errors import CannotOpen, CodeRejected, RateLimited
from core.i18n import speaking
from core.recipient_steps import (
    CodeSent,
    Invited,
    MessageUnavailable,
    OpenThread,
    ThreadMessages,
)

if TYPE_CHECKING:
    from pathlib import Path

    from core.access import Checked
    from core.codes import IssuedCode
    from core.contact import Contact
    from core.models import Invitation, Participant
    from core.ports import Transaction
    from core.references import Reference
    from core.stream import ContentKey

# The access checks, codes, mails, models and the sealing (cryptography) are imported
# in the steps that use them, not with this module: the recipient's first question
# (the reference) needs none of them (tests/test_startup.py).


def _decoy_contact(ctx: Context, reference: Reference) -> Contact:
    """A made-up Dutch mobile number, the same for the same reference each time."""
    from core.contact import Contact

    digits = ctx.secret.tag("decoy", reference)
    return Contact(email="", phone="+316" + "".join(str(b % 10) for b in digits[:8]))


class Recipient:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def lookup(self, typed: str) -> Invited:
        from core.access import reference_tag
        from core.models import Method
        from core.references import parse_reference

        reference = parse_reference(typed)
        tag = reference_tag(self.ctx.secret, reference)
        with self.ctx.repo.transaction() as tx:
            org, _mailbox = require_organisation(tx)
            invitation = tx.invitation_by_tag(tag)
            # An unknown reference runs the same queries and the same masking as a known
            # one, so the time to answer does not tell them apart either (measured in
            # tests/abuse/test_enumeration.py).
            participant = tx.participant(invitation.participant_id if invitation else tag)
            checked, unavailable = self._looked_up(tx, invitation, participant)
        if unavailable:
            raise unavailable  # after the commit: a share destroyed on the way stays so
        if checked is None:
            # Unknown, or rows changed in the database since they were sealed: either
            # way nobody learns anything, and no code will go anywhere.
            decoy = _decoy_contact(self.ctx, reference)
            return Invited(reference, org.name, Method.SMS, decoy.masked_destination(Method.SMS))
        return Invited(
            reference,
            org.name,
            checked.method,
            checked.contact.masked_destination(checked.method),
            checked.invitation,
            checked.participant,
        )

    def _available(
        self, tx: Transaction, invitation: Invitation | None, participant: Participant | None
    ) -> Checked | None:
        """The invitation checked against what was sealed (None: treat as unknown), or
        :class:`MessageUnavailable`. A revoked person's or an expired invitation's share
        is destroyed here, if the sweep has not done it yet: the cut-off is the key's."""
        from core.access import check

        if invitation is None or participant is None:
            return None
        if participant.revoked_at is not None:
            tx.destroy_shares(participant.id)
            raise MessageUnavailable(MessageUnavailable.REVOKED)
        if not invitation.share_sealed:
            raise MessageUnavailable(MessageUnavailable.EXPIRED)  # destroyed: gone for good
        checked = check(self.ctx.secret, invitation, participant)
        if checked is None:
            return None
        if self.ctx.clock() >= invitation.expires_at:  # bound in the share: authentic
            tx.destroy_share(invitation.id)
            raise MessageUnavailable(MessageUnavailable.EXPIRED)
        return checked

    def _looked_up(
        self, tx: Transaction, invitation: Invitation | None, participant: Participant | None
    ) -> tuple[Checked | None, MessageUnavailable | None]:
        """:meth:`_available` without raising inside the transaction, which would roll
        back the share it destroyed: the caller raises once it committed."""
        try:
            return self._available(tx, invitation, participant), None
        except MessageUnavailable as exc:
            return None, exc

    def _fresh(
        self, tx: Transaction, invited: Invited
    ) -> tuple[Checked | None, MessageUnavailable | None]:
        """The invitation as the database has it now, checked again."""
        if invited._invitation is None:
            return None, None
        invitation = tx.invitation(invited._invitation.id)
        participant = tx.participant(invitation.participant_id) if invitation else None
        return self._looked_up(tx, invitation, participant)

    def request_code(self, invited: Invited) -> CodeSent:
        """Seed 2B, *get the code*. Limits count per destination; a decoy's per reference.
        A locked person (too many wrong codes) is answered as ever, and sent nothing."""
        from core.audit import Action
        from core.models import Method, Purpose

        minutes = int(self.ctx.policy.code_lifetime.total_seconds() // 60)
        with self.ctx.repo.transaction() as tx:
            checked, unavailable = self._fresh(tx, invited)
            if unavailable is None and (checked is None or checked.method is Method.SMS):
                # Before the per-number limit, and for decoys too (they pose as SMS), so a
                # capped hour answers alike for known and unknown references.
                self._check_sms_budget(tx)
            if unavailable is not None:
                pass  # said after the commit, which keeps a share destroyed on the way
            elif checked is None or checked.participant.locked_at is not None:
                issued = self.ctx.codes.issue(tx, Purpose.OPEN, f"decoy:{invited.reference}")
                # nothing is sent anywhere
            else:
                participant = checked.participant
                with speaking(participant.language):
                    issued = self._send_code(tx, invited, checked, minutes)
                actor = f"recipient:{participant.id}"
                self.ctx.audit.append(
                    tx, actor, Action.CODE_SENT, participant.conversation_id, checked.method
                )
        if unavailable is not None:
            raise unavailable
        return CodeSent(invited, issued.challenge.id)

    def _check_sms_budget(self, tx: Transaction) -> None:
        """The circuit breaker against SMS cost pumping (``Policy.sms_per_hour``)."""
        from datetime import timedelta

        from core.models import Channel

        now = self.ctx.clock()
        tx.lock_for_sms_budget()  # counted, then queued: requests take turns
        queued = tx.outbox_queued_since(Channel.SMS, now - timedelta(hours=1))
        if len(queued) >= self.ctx.policy.sms_per_hour:
            wait = min(queued) + timedelta(hours=1) - now
            raise RateLimited("too many text messages this hour", int(wait.total_seconds()) + 1)

    def _send_code(
        self, tx: Transaction, invited: Invited, checked: Checked, minutes: int
    ) -> IssuedCode:
        """The code by SMS or e-mail, through the outbox (in the caller's language): by
        the method sealed with the contact details, never the plain column."""
        from core.mail import new_message_id, open_code_email, open_code_sms
        from core.models import Method, Purpose
        from core.sms import Sms

        contact = checked.contact
        if checked.method is Method.SMS:
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
        from core.access import unlock
        from core.audit import Action
        from core.lockout import note_code_failure

        invited = sent.invited
        if not self.ctx.codes.looks_like_a_code(typed):
            raise CodeRejected(CodeRejected.MALFORMED, self.ctx.policy.code_attempts)
        rejected: CodeRejected | None = None
        with self.ctx.repo.transaction() as tx:
            try:
                self.ctx.codes.check(tx, sent.challenge_id, typed)
            except CodeRejected as exc:
                rejected = exc
            checked, unavailable = self._fresh(tx, invited)  # revoked meanwhile?
            if checked is None and unavailable is None:
                # A decoy, or rows changed since: a code never sent, or sent to whoever the
                # rows pointed at. Even a lucky guess opens nothing.
                rejected = rejected or CodeRejected(CodeRejected.WRONG, 0)
            elif checked is not None:
                participant = checked.participant
                if participant.locked_at is not None:
                    rejected = rejected or CodeRejected(CodeRejected.WRONG, 0)
                if rejected is not None and rejected.counted:
                    note_code_failure(self.ctx, tx, participant)
                actor = f"recipient:{participant.id}"
                action = Action.CODE_FAILED if rejected else Action.CODE_VERIFIED
                self.ctx.audit.append(tx, actor, action, participant.conversation_id)
        if rejected:
            raise rejected
        if unavailable:
            raise unavailable
        assert checked is not None
        thread_key = unlock(checked, invited.reference)
        with self.ctx.repo.transaction() as tx:
            fresh = tx.participant(checked.participant.id)
            assert fresh is not None
            if fresh.opened_at is None:
                fresh.opened_at = self.ctx.clock()
                fresh.verified_via = checked.method
                tx.save_participant(fresh)
            self.ctx.audit.append(
                tx, f"recipient:{fresh.id}", Action.OPENED, fresh.conversation_id, checked.method
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
        from core import labels
        from core.sealing import read_message
        from core.stream import ContentKey

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
                opened = read_message(
                    blobs=self.ctx.blobs, key=key, message=message, secret=self.ctx.secret
                )
                read.opened.append((opened, key))
            except CannotOpen:
                read.damaged.append(message)
        return read

    def _recheck(self, thread: OpenThread) -> None:
        """An open session asks again before every step: revoked, expired or changed in
        the meantime ends it."""
        with self.ctx.repo.transaction() as tx:
            checked, unavailable = self._fresh(tx, thread.invited)
        if unavailable:
            raise unavailable
        if checked is None or checked.participant.id != thread.participant.id:
            raise CannotOpen("no such recipient")

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
        from core import labels
        from core.audit import Action
        from core.contact import Contact
        from core.drafts import Sender
        from core.mail import reply_notice
        from core.models import ConversationState, Direction, Message, ParticipantKey
        from core.store import store_message

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
            # An answer from outside: the desk's turn again, even if it was closed; and
            # its subject is for the next desk to index (core.search).
            conversation.state, conversation.indexed_under = ConversationState.OPEN, b""
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
