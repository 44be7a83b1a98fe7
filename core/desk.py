"""The support desk (seed flows 2 and 3, the organisation's side).

Staff log in with e-mail, password and TOTP; the password unwraps the mailbox key for
this session only. Then: an inbox of conversations, reading them, replying, sending
new secure messages to outside people, the *Sent* overview, and revoking.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyotp

from core.audit import Action
from core.contact import mask_phone, parse_mobile
from core.context import Context, require_organisation
from core.errors import CannotOpen, InvalidInput, LoginFailed, RateLimited
from core.i18n import _, language_for, speaking
from core.keys import (
    PRIVATE_KEY_SIZE,
    MailboxPrivateKey,
    MailboxPublicKey,
    Password,
    ThreadKey,
    new_thread_key,
    seal_thread_key,
    unopenable_password_wrap,
    unwrap_thread_key,
    unwrap_with_password,
    wrap_for_thread,
    wrap_thread_key_to_mailbox,
)
from core.mail import notification_email
from core.models import (
    Conversation,
    Direction,
    Invitation,
    LoginFailure,
    Message,
    Method,
    Participant,
    ParticipantKey,
    StaffMember,
)
from core.policy import Argon2Cost
from core.references import new_reference, reference_bytes
from core.sealing import (
    Draft,
    OpenedMessage,
    Progress,
    Sender,
    discard_blobs,
    open_message,
    open_sender,
    seal_message,
)
from core.setup import staff_key_binding, totp_binding
from core.starter import check_email
from core.stream import ContentKey


@dataclass(frozen=True)
class Contact:
    """An outside person as the server knows them (sealed at rest)."""

    email: str
    phone: str = ""  # E.164, or "" when they verify by e-mail
    name: str = ""

    def seal(self, ctx: Context, participant_id: str) -> bytes:
        raw = json.dumps({"email": self.email, "phone": self.phone, "name": self.name}).encode()
        return ctx.secret.seal(raw, contact_binding(participant_id))

    @classmethod
    def unseal(cls, ctx: Context, participant: Participant) -> Contact:
        raw = ctx.secret.open(participant.contact_sealed, contact_binding(participant.id))
        return cls(**json.loads(raw))

    def masked_destination(self, method: Method) -> str:
        from core.display import mask_email

        return mask_phone(self.phone) if method is Method.SMS else mask_email(self.email)


def contact_binding(participant_id: str) -> bytes:
    return f"veilig/v1/contact|{participant_id}".encode()


def share_binding(invitation_id: str) -> bytes:
    return f"veilig/v1/share|{invitation_id}".encode()


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    who: str  # name of the outside person (decrypted for this session only)
    email: str
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


def _dummy_wrap(cost: Argon2Cost) -> bytes:
    """A key wrap nobody can open, so an unknown account costs the same Argon2id time.

    Made fresh each time and without running the KDF: one made with the KDF (and kept)
    made the first unknown log-in of every process cost two derivations, and each
    ``veilig desk`` is a new process, so that first try told a typed address apart."""
    return unopenable_password_wrap(cost, PRIVATE_KEY_SIZE)


def _totp_step(secret: str, code: str, now: datetime, interval: int, window: int) -> int | None:
    """The time step ``code`` belongs to (within +-window steps), compared in constant time."""
    totp = pyotp.TOTP(secret, interval=interval)
    current = int(now.timestamp()) // interval
    typed = "".join(ch for ch in code if ch.isdigit())
    match = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(totp.generate_otp(step), typed):
            match = step
    return match


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
        """Password and TOTP, or :class:`LoginFailed` — the same for every kind of wrong.

        Throttled per typed address; an unknown address takes the same path and time.
        """
        typed = email.strip().casefold()
        tag = ctx.secret.tag("login", typed).hex()
        now = ctx.clock()
        with ctx.repo.transaction() as tx:
            require_organisation(tx)
            since = now - ctx.policy.login_failure_window
            if tx.count_login_failures(tag, since) >= ctx.policy.login_failures_allowed:
                raise RateLimited("too many failed log-ins")
            staff = tx.staff_by_email(typed)
        binding = staff_key_binding(staff.id, staff.mailbox_id) if staff else b"dummy"
        wrap = staff.key_wrap if staff else _dummy_wrap(ctx.policy.argon2)
        key: MailboxPrivateKey | None = None
        step: int | None = None
        try:
            key = MailboxPrivateKey(unwrap_with_password(wrap, Password(password), binding))
        except CannotOpen:
            key = None
        if staff is not None and key is not None:
            secret = ctx.secret.open(staff.totp_sealed, totp_binding(staff.id)).decode()
            step = _totp_step(
                secret,
                totp_code,
                now,
                ctx.policy.totp_interval_seconds,
                ctx.policy.totp_valid_window,
            )
        with ctx.repo.transaction() as tx:
            # Count again, inside the transaction that records the outcome: attempts that
            # raced past the first check all ran the KDF, but beyond the limit their
            # outcome is thrown away unseen, so parallel tries gain nothing.
            allowed = ctx.policy.login_failures_allowed
            throttled = tx.count_login_failures(tag, since) >= allowed
            fresh = tx.staff_by_email(typed) if staff and not throttled else None
            replay = (
                fresh is not None
                and step is not None
                and (fresh.last_totp_step is not None and step <= fresh.last_totp_step)
            )
            if fresh is None or key is None or step is None or replay:
                tx.add(LoginFailure(email_tag=tag, at=now))
                ctx.audit.append(tx, f"staff:{typed}" if staff else "unknown", Action.LOGIN_FAILED)
                failed = True
            else:
                fresh.last_totp_step = step  # this code, and any older, never again
                tx.save_staff(fresh)
                tx.clear_login_failures(tag)
                ctx.audit.append(tx, f"staff:{typed}", Action.LOGIN_OK)
                failed = False
        if throttled:
            raise RateLimited("too many failed log-ins")
        if failed or fresh is None or key is None:
            raise LoginFailed("login failed")
        return cls(ctx, fresh, key)

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
            contact = Contact.unseal(self.ctx, participants[0])
            return contact.name or contact.email, contact.email
        inbound = next((m for m in messages if m.direction is Direction.INBOUND), messages[0])
        try:
            sender = open_sender(blobs=self.ctx.blobs, mailbox_key=self._key, message=inbound)
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
                view.messages.append(
                    open_message(blobs=self.ctx.blobs, mailbox_key=self._key, message=message)
                )
            except CannotOpen:
                view.damaged.append(message)
        view.participants = [(p, Contact.unseal(self.ctx, p)) for p in participants]
        return view

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
        participant, thread_key = self._new_participant(
            conversation.id,
            contact,
            method,
            now + expires_in,
            MailboxPublicKey(mailbox.public_key),
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
        readers = [
            (p, unwrap_thread_key(self._key, p.thread_key_wrapped, p.id)) for p in participants
        ]
        new: set[str] = set()
        if not readers:
            guest = self._who(conversation, messages)
            contact = Contact(email=guest[1], name=guest[0])
            readers.append(
                self._new_participant(
                    conversation_id,
                    contact,
                    Method.EMAIL,
                    now + self.ctx.policy.message_expiry_default,
                    MailboxPublicKey(mailbox.public_key),
                    language_for(contact.email),
                )
            )
            new.add(readers[0][0].id)
        for participant, _thread_key in readers:
            # A reply keeps the conversation open for at least the default period again.
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

    def _new_participant(
        self,
        conversation_id: str,
        contact: Contact,
        method: Method,
        expires_at: datetime,
        mailbox_key: MailboxPublicKey,
        language: str,
    ) -> tuple[Participant, ThreadKey]:
        thread_key = new_thread_key()
        participant = Participant(
            conversation_id=conversation_id,
            contact_sealed=b"",
            thread_key_wrapped=b"",
            method=method,
            created_at=self.ctx.clock(),
            expires_at=expires_at,
            language=language,
        )
        participant.contact_sealed = contact.seal(self.ctx, participant.id)
        participant.thread_key_wrapped = wrap_thread_key_to_mailbox(
            mailbox_key, thread_key, participant.id
        )
        return participant, thread_key

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
        content_key = seal_message(
            blobs=self.ctx.blobs,
            mailbox_key=MailboxPublicKey(mailbox.public_key),
            message=message,
            sender=Sender(org.name, mailbox.address),
            draft=draft,
            progress=progress,
        )
        try:
            with self.ctx.repo.transaction() as tx:
                if conversation.id in new:
                    tx.add(conversation)
                else:
                    tx.save_conversation(conversation)
                tx.add(message)
                for participant, thread_key in readers:
                    if participant.id in new:
                        tx.add(participant)
                    else:
                        tx.save_participant(participant)
                    tx.add(
                        ParticipantKey(
                            message_id=message.id,
                            participant_id=participant.id,
                            wrapped=wrap_for_thread(thread_key, content_key, message.id),
                        )
                    )
                    self._invite(tx, org.name, mailbox.address, participant, thread_key)
                self.ctx.audit.append(
                    tx,
                    self.actor,
                    Action.MESSAGE_SENT,
                    conversation.id,
                    f"{message.attachment_count} attachments",
                )
        except BaseException:
            discard_blobs(self.ctx.blobs, message.items)
            raise
        return message

    def _invite(
        self, tx, org: str, sender: str, participant: Participant, thread_key: ThreadKey
    ) -> None:  # noqa: ANN001
        """A fresh reference per notification: it is never stored, so it cannot be resent."""
        import secrets

        reference = new_reference()
        share = secrets.token_bytes(32)
        invitation = Invitation(
            participant_id=participant.id,
            reference_tag=self.ctx.secret.tag("reference", reference).hex(),
            share_sealed=b"",
            thread_key_wrap=b"",
            created_at=self.ctx.clock(),
        )
        invitation.share_sealed = self.ctx.secret.seal(share, share_binding(invitation.id))
        invitation.thread_key_wrap = seal_thread_key(
            thread_key, reference_bytes(reference), share, invitation.id
        )
        contact = Contact.unseal(self.ctx, participant)
        with speaking(participant.language):
            notice = notification_email(
                org=org,
                sender=sender,
                to=contact.email,
                name=contact.name,
                reference=reference,
                ways_in=self.ctx.ways_in,
            )
        item = self.ctx.outbox.enqueue_email(tx, notice)
        invitation.notice_outbox_id = item.id
        tx.add(invitation)

    # --- the Sent overview and revoking ---------------------------------------------

    def sent(self, limit: int = 50, offset: int = 0) -> list[SentRow]:
        rows = []
        with self.ctx.repo.transaction() as tx:
            participants = tx.participants(limit=limit, offset=offset)
            details = {}
            for p in participants:
                invitations = tx.invitations_of(p.id)
                notices = [
                    tx.outbox_item(i.notice_outbox_id) for i in invitations if i.notice_outbox_id
                ]
                sent_times = [n.sent_at for n in notices if n and n.sent_at]
                first_out = next(
                    (
                        m
                        for m in tx.messages_in(p.conversation_id)
                        if m.direction is Direction.OUTBOUND
                    ),
                    None,
                )
                details[p.id] = (max(sent_times) if sent_times else None, first_out)
        for p in participants:
            notified_at, first_out = details[p.id]
            subject = ""
            if first_out is not None:
                opened, _key = open_message(
                    blobs=self.ctx.blobs, mailbox_key=self._key, message=first_out
                )
                subject = opened.subject
            rows.append(
                SentRow(
                    participant=p,
                    contact=Contact.unseal(self.ctx, p),
                    subject=subject,
                    notified_at=notified_at,
                    opened_at=p.opened_at,
                    verified_via=p.verified_via,
                    replied_at=p.replied_at,
                    revoked_at=p.revoked_at,
                    expires_at=p.expires_at,
                )
            )
        return rows

    def revoke(self, participant_id: str) -> None:
        """From now on no reference of this person opens anything, with or without a code."""
        with self.ctx.repo.transaction() as tx:
            participant = tx.participant(participant_id)
            if participant is None:
                raise CannotOpen("no such recipient")
            if participant.revoked_at is None:
                participant.revoked_at = self.ctx.clock()
                tx.save_participant(participant)
                self.ctx.audit.append(tx, self.actor, Action.REVOKE, participant.conversation_id)


def check_contact(contact: Contact, method: Method) -> Contact:
    email = check_email(contact.email)
    phone = parse_mobile(contact.phone) if contact.phone.strip() else ""
    if method is Method.SMS and not phone:
        raise InvalidInput(_("A mobile number is needed to verify by text message."))
    return Contact(email=email, phone=phone, name=contact.name.strip())
