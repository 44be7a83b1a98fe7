"""The support desk (seed flows 2 and 3, the organisation's side).

Staff log in with e-mail, password and TOTP (core.login); the password unwraps the
mailbox key for this session only, and every transaction of the session checks that
the account may still hold it (core.session). Then: an inbox of conversations in views
(mine, unassigned, all, closed) and searched as staff type (core.search), reading them,
taking, closing, replying, sending new secure messages to outside people (asking first
when the address is new or a near miss: core.guard; the sending itself is
core.desk_send), the *Sent* overview, revoking, and a new password.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from core import guard, search, team
from core.audit import Action
from core.contact import Contact, check_email
from core.context import Context
from core.desk_send import Outgoing, actor_of
from core.errors import CannotOpen
from core.heading import HeadingKey
from core.inbox import InboxRow, read_page, rows_of
from core.keys import MailboxPrivateKey
from core.lockout import unlock_recipient
from core.login import log_in
from core.models import (
    Conversation,
    Hold,
    Message,
    Method,
    Participant,
    StaffMember,
    View,
)
from core.retention import Retention
from core.sealing import Draft, OpenedMessage, Progress, Sender, open_message, open_sender
from core.sent import SentRow, sent_rows
from core.session import SessionRepository, StaffSession
from core.staff import change_password
from core.stream import ContentKey

__all__ = ["Desk", "InboxRow", "SentRow", "ThreadView"]


@dataclass
class ThreadView:
    conversation: Conversation
    messages: list[tuple[OpenedMessage, ContentKey]] = field(default_factory=list)
    participants: list[tuple[Participant, Contact]] = field(default_factory=list)
    damaged: list[Message] = field(default_factory=list)  # altered or missing on disk


class Desk:
    """One logged-in staff member with the unlocked mailbox key."""

    def __init__(self, ctx: Context, staff: StaffMember, key: MailboxPrivateKey) -> None:
        self.staff = staff
        self.logged_out = False
        self._session = StaffSession(staff, key)
        self._unchecked = ctx.repo  # for the log-out, which is noted even after removal
        # Every transaction of this desk checks the session first (core.session).
        self.ctx = replace(ctx, repo=SessionRepository(ctx.repo, self._session.check))
        self._search_key = search.SearchKey.of(key)
        self._headings = HeadingKey.of(key)

    @property
    def _key(self) -> MailboxPrivateKey:
        return self._session.key

    @property
    def actor(self) -> str:
        return actor_of(self.staff)

    def check(self) -> None:
        """:class:`SessionEnded` when this session may no longer hold the key."""
        with self.ctx.repo.transaction():
            pass

    def change_password(self, current: str, new: str) -> None:
        """A new password for the person logged in (core.staff); this session goes on."""
        self.staff = change_password(self.ctx, self.staff, current, new)
        self._session.wrap = self.staff.key_wrap
        self._session.mailbox_wrap = self.staff.mailbox_wrap

    # --- log in --------------------------------------------------------------------

    @classmethod
    def login(cls, ctx: Context, email: str, password: str, totp_code: str) -> Desk:
        """Password and TOTP, or :class:`LoginFailed` — the same for every kind of wrong
        (core.login)."""
        staff, key = log_in(ctx, email, password, totp_code)
        return cls(ctx, staff, key)

    def log_out(self, reason: str = "") -> None:
        """The session ends (quit, or locked after idling): noted once. The key itself
        goes with this object; the screens drop it."""
        if self.logged_out:
            return
        self.logged_out = True
        with self._unchecked.transaction() as tx:
            self.ctx.audit.append(tx, self.actor, Action.STAFF_LOGOUT, detail=reason)

    def opens_content(self, message: Message) -> tuple[OpenedMessage, ContentKey]:
        """One message opened with the session's key (a proof of delivery hashes it)."""
        return self._open(message)

    def sender_of(self, message: Message) -> Sender:
        """Only who sent ``message``, from its sealed meta (CannotOpen if it does not open)."""
        blobs, secret = self.ctx.blobs, self.ctx.secret
        return open_sender(blobs=blobs, mailbox_key=self._key, message=message, secret=secret)

    # --- holds: kept from the purge (core.retention) ---------------------------------

    def hold(self, conversation_id: str, reason: str) -> None:
        Retention(self.ctx).place_hold(self.actor, conversation_id, reason)

    def lift_hold(self, conversation_id: str) -> bool:
        return Retention(self.ctx).lift_hold(self.actor, conversation_id)

    def hold_of(self, conversation_id: str) -> tuple[Hold, str] | None:
        return Retention(self.ctx).hold_of(conversation_id)

    # --- reading -------------------------------------------------------------------

    def inbox(self, view: View = View.ALL, limit: int = 50, offset: int = 0) -> list[InboxRow]:
        """A page of one of the inbox's views, newest activity first."""
        with self.ctx.repo.transaction() as tx:  # one transaction: one session check
            conversations = tx.conversations(limit, offset, view=view, staff_id=self.staff.id)
            page = read_page(tx, conversations)
        return rows_of(self.ctx, self._key, self._headings, conversations, page)

    def search(self, term: str, limit: int = 50, offset: int = 0) -> list[InboxRow]:
        """Conversations whose outside person's name or address, or a subject, has words
        starting with each word of ``term``; or the one a whole reference opens."""
        found = search.find(self.ctx, self._search_key, term, limit, offset)
        return rows_of(self.ctx, self._key, self._headings, found)

    def index_pending(self) -> int:
        """Index a batch of conversations that are new to the search index or have a
        message since; how many (0: the index is complete)."""
        return search.index_pending(self.ctx, self._key, self._search_key, self._headings)

    def changes(self) -> int:
        """A number that grows with every change another desk could show (a message, a
        reply, read, taken, closed, revoked): the audit log's newest entry, which each
        of those writes in its own transaction. One indexed query, on SQLite and
        PostgreSQL alike, so an open desk can ask every few seconds."""
        with self.ctx.repo.transaction() as tx:
            tail = tx.audit_tail()
        return tail.seq if tail else 0

    # --- the team ----------------------------------------------------------------

    def take(self, conversation_id: str, *, expected: str | None = None) -> None:
        """Handle it from now on (``expected``: who the desk showed handling it)."""
        team.take(self.ctx, self.staff, conversation_id, expected=expected)

    def close(self, conversation_id: str) -> None:
        team.close(self.ctx, self.staff, conversation_id)

    def reopen(self, conversation_id: str) -> None:
        team.reopen(self.ctx, self.staff, conversation_id)

    def check_recipient(self, address: str) -> guard.RecipientCheck:
        """Whether the office wrote to or heard from ``address`` (the guard asks if not)."""
        return guard.check_recipient(self.ctx, self._search_key, check_email(address))

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
        self.check()  # before the file is written, not only at its audit entry
        return self.ctx.save_attachment(self.actor, opened, key, position, folder)

    # --- sending (core.desk_send) ------------------------------------------------------

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
        outgoing = Outgoing(self.ctx, self.staff, self._key)
        return outgoing.send_new(contact, method, draft, expires_in, progress, language)

    def reply(
        self, conversation_id: str, draft: Draft, progress: Progress | None = None
    ) -> Message:
        """Seed 3, staff side: answer in a conversation. A guest of flow 1 has no access
        yet; they get it now, verifying by e-mail code (no phone is on file)."""
        return Outgoing(self.ctx, self.staff, self._key).reply(conversation_id, draft, progress)

    # --- the Sent overview and revoking ---------------------------------------------

    def sent(self, limit: int = 50, offset: int = 0) -> list[SentRow]:
        return sent_rows(self.ctx, self._open, limit, offset)

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
