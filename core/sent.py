"""The *Sent* overview: a row per recipient, built a page at a time; apart from core.desk,
whose ``Desk.sent`` asks for it with its own way to open a message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from core.contact import Contact
from core.context import Context
from core.errors import CannotOpen
from core.models import Direction, Message, Method, Participant
from core.sealing import OpenedMessage
from core.stream import ContentKey


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


def sent_rows(
    ctx: Context,
    open_: Callable[[Message], tuple[OpenedMessage, ContentKey]],
    limit: int = 50,
    offset: int = 0,
) -> list[SentRow]:
    rows = []
    # One transaction and a few queries for the page, whatever its length, as the
    # inbox: participants, when each was last notified, their conversations' messages.
    with ctx.repo.transaction() as tx:
        participants = tx.participants(limit=limit, offset=offset)
        notified = tx.last_notified([p.id for p in participants])
        messages = tx.messages_of(list({p.conversation_id: None for p in participants}))
    for p in participants:
        first_out = next(
            (m for m in messages.get(p.conversation_id, []) if m.direction is Direction.OUTBOUND),
            None,
        )
        subject, damaged = "", False
        if first_out is not None:
            try:
                subject = open_(first_out)[0].subject
            except CannotOpen:
                # One damaged message must not empty the whole view (as in the inbox):
                # the row stays, marked, and the others show as ever.
                damaged = True
        rows.append(
            SentRow(
                participant=p,
                contact=Contact.unseal(ctx.secret, p),
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
