"""The desk's rows: a page of conversations (a view or search results) made readable.

One transaction and a few queries for the page, whatever its length (conversations
come from the caller; their messages, participants and handlers with ``IN``): the
inbox stays as fast at 100,000 conversations as at ten (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.contact import Contact
from core.context import Context
from core.errors import CannotOpen
from core.heading import HeadingKey
from core.i18n import _
from core.keys import MailboxPrivateKey
from core.models import Conversation, Direction, Message, Participant
from core.pins import check_origin
from core.ports import Transaction
from core.sealing import Sender, open_sender, open_summary
from core.team import handlers


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    # The outside person (decrypted for this session only): never in a repr.
    who: str = field(repr=False)
    email: str = field(repr=False)
    subject: str = field(repr=False)  # of its first message; plaintext: never in a repr
    when: datetime
    unread: bool
    attachments: int
    last_direction: Direction
    handler: str = ""  # the staff member who took it, as the desk names them; "": nobody


@dataclass(frozen=True)
class PageData:
    """What the rows of a page need from storage, read in one transaction (decrypted
    after it, outside any)."""

    messages: dict[str, list[Message]]
    people: dict[str, list[Participant]]
    names: dict[str, str]


def read_page(tx: Transaction, conversations: list[Conversation]) -> PageData:
    """The messages, participants and handlers of ``conversations``: three queries with
    ``IN``, in the caller's transaction (the inbox reads its page in the same one)."""
    ids = [c.id for c in conversations]
    return PageData(tx.messages_of(ids), tx.participants_of(ids), handlers(tx, conversations))


def rows_of(
    ctx: Context,
    mailbox_key: MailboxPrivateKey,
    headings: HeadingKey,
    conversations: list[Conversation],
    page: PageData | None = None,
) -> list[InboxRow]:
    if page is None:
        with ctx.repo.transaction() as tx:
            page = read_page(tx, conversations)
    firsts, people, names = page.messages, page.people, page.names
    rows = []
    for conversation in conversations:
        messages = firsts.get(conversation.id, [])
        if not messages:
            continue
        # The first message's subject, and for a guest's conversation who wrote.
        try:
            sender, subject = first_of(ctx, mailbox_key, headings, conversation, messages[0])
        except CannotOpen:
            sender, subject = None, _("(cannot be opened)")
        if messages[0].direction is not Direction.INBOUND:
            sender = None
        people_here = people.get(conversation.id, [])
        name, email = who(ctx, mailbox_key, messages, people_here, sender)
        assignee = conversation.assignee_id
        rows.append(
            InboxRow(
                conversation=conversation,
                who=name,
                email=email,
                subject=subject,
                when=messages[-1].created_at,
                unread=conversation.unread,
                attachments=sum(m.attachment_count for m in messages),
                last_direction=messages[-1].direction,
                handler=names.get(assignee, _("(no longer staff)")) if assignee else "",
            )
        )
    return rows


def first_of(
    ctx: Context,
    mailbox_key: MailboxPrivateKey,
    headings: HeadingKey,
    conversation: Conversation,
    first: Message,
) -> tuple[Sender, str]:
    """Who wrote ``first`` and its subject: from the conversation's sealed heading when
    it was made from this very message (one AES-GCM), else by opening the message (an
    HPKE unwrap and a blob: core.heading says why the heading exists)."""
    if conversation.heading:
        check_origin(ctx.secret, first)  # the row trusts the message no less than before
        try:
            return headings.open(conversation.id, first.id, conversation.heading)
        except CannotOpen:
            pass  # the old key's (a rotation under way), or altered
    return open_summary(blobs=ctx.blobs, mailbox_key=mailbox_key, message=first, secret=ctx.secret)


def who(
    ctx: Context,
    mailbox_key: MailboxPrivateKey,
    messages: list[Message],
    participants: list[Participant],
    first_sender: Sender | None = None,
) -> tuple[str, str]:
    """The outside person: the first participant, or the sender of the first inbound
    message (``first_sender`` when it was opened already)."""
    if participants:
        contact = Contact.unseal(ctx.secret, participants[0])
        return contact.name or contact.email, contact.email
    if first_sender is not None:
        return first_sender.name, first_sender.email
    inbound = next((m for m in messages if m.direction is Direction.INBOUND), messages[0])
    try:
        sender = open_sender(
            blobs=ctx.blobs, mailbox_key=mailbox_key, message=inbound, secret=ctx.secret
        )
    except CannotOpen:
        # One damaged message must not take the whole inbox down with it: the row
        # stays, and opening it says what is wrong.
        return _("(cannot be opened)"), ""
    return sender.name, sender.email
