"""Storing a message, for all three senders: seal it into the blob store, then commit its
rows in one transaction, or give the blobs up.

The starter (a guest's first message), the desk (staff sending or replying) and a
recipient's reply all store through :func:`store_message`; what differs between them
is only what they record in the transaction.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from core.audit import Action
from core.context import Context
from core.drafts import Draft, Progress, Receipt, Sender
from core.errors import VeiligError
from core.models import Mailbox, Message
from core.pins import sealing_key, sign_origin
from core.ports import Transaction
from core.receipt import Commitments
from core.sealing import content_binding, discard_blobs, seal_message
from core.stream import ContentKey

__all__ = ["Receipt", "Record", "store_message"]  # Receipt: its old name, from core.drafts

Record = Callable[[Transaction, ContentKey], None]


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
    commitments: Commitments | None = None,
) -> ContentKey:
    """Seal ``draft`` into ``message`` for ``mailbox``, then run ``record(tx, content_key)``
    in one transaction that adds the message's rows and the mails that go with it, and
    note the message in the audit log as ``audit`` (actor, action).

    Blobs first: sealing is slow and needs no transaction; the rows and mails then
    commit together, or not at all. ``disk_error`` turns an OSError while sealing (a
    full disk) into an answer for the person; without it the OSError goes up as it is.
    Returns the content key, for wrapping to other readers.
    """
    mailbox_key = sealing_key(ctx.secret, mailbox)  # KeyDamaged before anything is sealed
    try:
        content_key = seal_message(
            blobs=ctx.blobs,
            mailbox_key=mailbox_key,
            message=message,
            sender=sender,
            draft=draft,
            progress=progress,
            commitments=commitments,
        )
    except OSError as exc:
        if disk_error is None:
            raise
        raise disk_error(exc) from None
    sign_origin(ctx.secret, message)
    committed = False

    def mark_committed() -> None:
        nonlocal committed
        committed = True

    try:
        with ctx.repo.transaction() as tx:
            tx.after_commit(mark_committed)  # the first hook: runs right after the commit
            _to_the_current_key(ctx, tx, message, mailbox, content_key)
            record(tx, content_key)
            actor, action = audit
            # The message id, so that `veilig audit show` leads to `veilig proof`.
            detail = f"message {message.id}, {message.attachment_count} attachments"
            ctx.audit.append(tx, actor, action, message.conversation_id, detail)
    except BaseException:
        # The one place that decides when sealed blobs are given up: only when the
        # transaction did not commit. Once it has, its rows refer to the blobs, and
        # whatever fails after (a hook, the audit head) must leave them: giving them
        # up then turned a stored message into "blob missing". (`veilig outbox` sweeps
        # blobs that a killed send left behind.)
        if not committed:
            discard_blobs(ctx.blobs, message.items)
        raise
    return content_key


def _to_the_current_key(
    ctx: Context, tx: Transaction, message: Message, sealed_for: Mailbox, key: ContentKey
) -> None:
    """A rotation that started while this message was being sealed (core.rotation) would
    never re-wrap it if its id lies behind the rotation's cursor: wrap its content key
    to the public key of now, inside the transaction that stores it."""
    current = tx.mailbox()
    if current is None or hmac.compare_digest(current.public_key, sealed_for.public_key):
        return
    message.wrapped_key = sealing_key(ctx.secret, current).wrap(key, content_binding(message))
    sign_origin(ctx.secret, message)
