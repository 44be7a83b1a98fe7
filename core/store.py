"""Storing a message, for all three senders: seal it into the blob store, then commit its
rows in one transaction, or give the blobs up.

The starter (a guest's first message), the desk (staff sending or replying) and a
recipient's reply all store through :func:`store_message`; what differs between them
is only what they record in the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.audit import Action
from core.context import Context
from core.errors import VeiligError
from core.keys import MailboxPublicKey
from core.models import Mailbox, Message
from core.ports import Transaction
from core.sealing import Draft, Progress, Sender, discard_blobs, seal_message
from core.stream import ContentKey

Record = Callable[[Transaction, ContentKey], None]


@dataclass(frozen=True)
class Receipt:
    message_id: str
    received_at: datetime
    attachments: int


def store_message(
    ctx: Context,
    message: Message,
    draft: Draft,
    *,
    mailbox: Mailbox,
    sender: Sender,
    record: Record,
    audit: tuple[str, Action],
    progress: Progress | None = None,
    disk_error: Callable[[OSError], VeiligError] | None = None,
) -> ContentKey:
    """Seal ``draft`` into ``message`` for ``mailbox``, then run ``record(tx, content_key)``
    in one transaction that adds the message's rows and the mails that go with it, and
    note the message in the audit log as ``audit`` (actor, action).

    Blobs first: sealing is slow and needs no transaction; the rows and mails then
    commit together, or not at all. ``disk_error`` turns an OSError while sealing (a
    full disk) into an answer for the person; without it the OSError goes up as it is.
    Returns the content key, for wrapping to other readers.
    """
    try:
        content_key = seal_message(
            blobs=ctx.blobs,
            mailbox_key=MailboxPublicKey(mailbox.public_key),
            message=message,
            sender=sender,
            draft=draft,
            progress=progress,
        )
    except OSError as exc:
        if disk_error is None:
            raise
        raise disk_error(exc) from None
    try:
        with ctx.repo.transaction() as tx:
            record(tx, content_key)
            actor, action = audit
            detail = f"{message.attachment_count} attachments"
            ctx.audit.append(tx, actor, action, message.conversation_id, detail)
    except BaseException:
        # The one place that decides when sealed blobs are given up: whenever the
        # transaction raised. That includes a failure in what runs after its commit
        # (the audit head), when the committed rows do refer to the blobs: a change
        # to *when* blobs are discarded belongs here. (`veilig outbox` sweeps blobs
        # that a killed send left behind.)
        discard_blobs(ctx.blobs, message.items)
        raise
    return content_key
