"""Flow 1, the conversation starter: a guest proves an e-mail address and writes to us.

Seed steps 1B–1H: name + e-mail (1B) -> verification mail with a code (1C, 1D) ->
unlock with the code (1E) -> write, attach (1F, 1G) -> send, encrypted for the office, and
get a confirmation (1H). Each step is one method; the TUI calls them in order.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.contact import check_email
from core.context import Context, require_organisation
from core.drafts import Draft, Progress, Receipt, Sender
from core.errors import CodeRejected, InvalidInput, StorageFailed
from core.i18n import _

if TYPE_CHECKING:
    from core.ports import Transaction
    from core.stream import ContentKey

# The audit log, the mails, the codes and the sealing (core.store: cryptography) are
# imported in the steps that use them, not with this module: the starter's first
# question (its name) needs none of them (tests/test_startup.py).

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class PendingGuest:
    """A guest who was sent a code and has not typed it yet. Name and address never in
    a repr: they would end up in logs and in tracebacks with locals."""

    name: str = field(repr=False)
    email: str = field(repr=False)
    challenge_id: str


@dataclass(frozen=True)
class VerifiedGuest:
    name: str = field(repr=False)
    email: str = field(repr=False)


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput(_("Please type your name."))
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            _("That name is too long: at most {n} characters.").format(n=MAX_NAME_LENGTH)
        )
    return name


class Starter:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def organisation_name(self) -> str:
        with self.ctx.repo.transaction() as tx:
            return require_organisation(tx)[0].name

    def request_code(self, name: str, email: str) -> PendingGuest:
        """Seed 1B/1C: e-mail a code. Any address gets the same treatment, known or not."""
        from core.audit import Action, pseudonym
        from core.mail import verification_email
        from core.models import Purpose

        name, email = check_name(name), check_email(email)
        with self.ctx.repo.transaction() as tx:
            org, mailbox = require_organisation(tx)
            issued = self.ctx.codes.issue(tx, Purpose.STARTER, email)
            self.ctx.outbox.enqueue_email(
                tx,
                verification_email(
                    org=org.name,
                    sender=mailbox.address,
                    to=email,
                    code=issued.code,
                    minutes=int(self.ctx.policy.code_lifetime.total_seconds() // 60),
                ),
            )
            self.ctx.audit.append(
                tx,
                "guest",
                Action.CODE_SENT,
                detail="starter e-mail code",
                subject=pseudonym(self.ctx.secret, email),
            )
        return PendingGuest(name=name, email=email, challenge_id=issued.challenge.id)

    def resend(self, pending: PendingGuest) -> PendingGuest:
        return self.request_code(pending.name, pending.email)

    def verify(self, pending: PendingGuest, typed: str) -> VerifiedGuest:
        """Seed 1E: unlock. A failed attempt is committed before the rejection is raised."""
        from core.audit import Action, pseudonym

        if not self.ctx.codes.looks_like_a_code(typed):
            raise CodeRejected(CodeRejected.MALFORMED, self.ctx.policy.code_attempts)
        rejected: CodeRejected | None = None
        with self.ctx.repo.transaction() as tx:
            try:
                self.ctx.codes.check(tx, pending.challenge_id, typed)
            except CodeRejected as exc:
                rejected = exc
            action = Action.CODE_FAILED if rejected else Action.CODE_VERIFIED
            subject = pseudonym(self.ctx.secret, pending.email)
            self.ctx.audit.append(
                tx, "guest", action, detail="starter e-mail code", subject=subject
            )
        if rejected:
            raise rejected
        return VerifiedGuest(name=pending.name, email=pending.email)

    def send(self, guest: VerifiedGuest, draft: Draft, progress: Progress | None = None) -> Receipt:
        """Seed 1H: seal for the mailbox, store, and queue the confirmation in one transaction."""
        from core.audit import Action, pseudonym
        from core.mail import confirmation_email, new_message_notice
        from core.models import Conversation, Direction, Message
        from core.receipt import Commitments
        from core.store import store_message

        draft.check(self.ctx.policy)
        now = self.ctx.clock()
        with self.ctx.repo.transaction() as tx:
            org, mailbox = require_organisation(tx)
        conversation = Conversation(
            mailbox_id=mailbox.id,
            created_at=now,
            last_message_at=now,
            unread=True,
            subject_tag=pseudonym(self.ctx.secret, guest.email),
        )
        message = Message(
            conversation_id=conversation.id,
            direction=Direction.INBOUND,
            wrapped_key=b"",
            created_at=now,
        )
        attachments = len(draft.attachments)
        # The guest's receipt: keyed commitments to what they sent, in the confirmation
        # e-mail, with the code on their screen only (core.receipt says why keyed).
        commitments = Commitments.new()

        def record(tx: Transaction, _content_key: ContentKey) -> None:
            tx.add(conversation)
            tx.add(message)
            outbox = self.ctx.outbox
            outbox.enqueue_email(
                tx,
                confirmation_email(
                    org=org.name,
                    sender=mailbox.address,
                    to=guest.email,
                    name=guest.name,
                    received_at=now,
                    attachments=attachments,
                    message_id=message.id,
                    receipt=commitments.values(),
                ),
            )
            outbox.enqueue_email(tx, new_message_notice(org=org.name, mailbox=mailbox.address))

        store_message(
            self.ctx,
            message,
            draft,
            mailbox=mailbox,
            sender=Sender(guest.name, guest.email),
            record=record,
            audit=("guest", Action.MESSAGE_RECEIVED),
            progress=progress,
            disk_error=lambda exc: StorageFailed(_storage_message(exc)),
            commitments=commitments,
        )
        return Receipt(
            message_id=message.id,
            received_at=now,
            attachments=attachments,
            receipt_code=commitments.code,
        )


def _storage_message(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return _("The disk is full, so the message could not be stored. Nothing was sent.")
    return _("The message could not be stored. Nothing was sent; please try again.")
