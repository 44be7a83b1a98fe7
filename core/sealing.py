"""Sealing a whole message (meta, body, attachments) into the blob store, and opening it.

Every item is its own stream under the message's one content key; the stream
context names message and item (core.labels), so blobs cannot be swapped between
them unnoticed. The content key is wrapped to the mailbox, bound to the message and
(format 2) to its conversation, direction and author; and a message opens only when
its origin tag says veilig stored it as it is (core.pins).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import BinaryIO, cast

from core import labels
from core.attachments import Attachment, ExactReader
from core.drafts import AttachmentInfo, Draft, OpenedMessage, Progress, Sender
from core.errors import CannotOpen
from core.keys import MailboxPrivateKey, MailboxPublicKey
from core.models import ItemRole, Message, SealedItem
from core.pins import check_origin
from core.pipeline import seal_file
from core.ports import BlobStore
from core.receipt import Commitments, Observed
from core.server_secret import ServerSecret
from core.stream import ContentKey, new_content_key, open_stream, seal_stream

# The plain types live in core.drafts (no cryptography, for the first screen); their
# old names here stay for the callers that seal or open anyway.
__all__ = [
    "Attachment",
    "AttachmentInfo",
    "Draft",
    "OpenedMessage",
    "Progress",
    "Sender",
    "content_binding",
    "discard_blobs",
    "open_message",
    "open_sender",
    "open_summary",
    "read_message",
    "seal_message",
    "sealed_item",
]


def _seal_item(
    blobs: BlobStore,
    key: ContentKey,
    message_id: str,
    role: ItemRole,
    position: int,
    source: BinaryIO,
    progress: Callable[[int], None] | None = None,
) -> SealedItem:
    # Files go through the overlapped pipeline; metas and bodies are in memory already.
    seal = seal_file if role is ItemRole.ATTACHMENT else seal_stream
    with blobs.create() as (blob_id, sink):
        seal(key, labels.stream_item(message_id, role, position), source, sink, progress)
        size = sink.tell()
    return SealedItem(role=role, position=position, blob_id=blob_id, sealed_size=size)


def seal_message(
    *,
    blobs: BlobStore,
    mailbox_key: MailboxPublicKey,
    message: Message,
    sender: Sender,
    draft: Draft,
    progress: Progress | None = None,
    commitments: Commitments | None = None,
) -> ContentKey:
    """Seal ``draft`` into ``blobs`` and fill ``message`` with the wrapped key and items.

    Returns the content key, for wrapping to other readers (a participant's thread key).
    To store a message, use core.store.store_message: it commits or discards as well.
    ``commitments`` (a guest's receipt, core.receipt) sees the text and every attachment
    as they are sealed, and its code goes into the sealed meta.
    """
    items: list[SealedItem] = []
    try:
        key = _seal_all(blobs, mailbox_key, message, sender, draft, items, progress, commitments)
    except BaseException:
        discard_blobs(blobs, items)  # no half-stored message: its whole blobs go too
        raise
    message.items = items
    message.attachment_count = len(draft.attachments)
    return key


def discard_blobs(blobs: BlobStore, items: list[SealedItem]) -> None:
    for item in items:
        blobs.delete(item.blob_id)


def _seal_all(
    blobs: BlobStore,
    mailbox_key: MailboxPublicKey,
    message: Message,
    sender: Sender,
    draft: Draft,
    items: list[SealedItem],
    progress: Progress | None,
    commitments: Commitments | None = None,
) -> ContentKey:
    key = new_content_key()
    message.binding_format = 2
    message.wrapped_key = mailbox_key.wrap(key, content_binding(message))
    meta = {
        "v": 1,
        "sender": {"name": sender.name, "email": sender.email},
        "subject": draft.subject,
        "attachments": [{"name": a.name, "size": a.size} for a in draft.attachments],
        "sent_at": message.created_at.isoformat(),
    }
    if commitments is not None:
        meta["receipt"] = commitments.code
        commitments.item("text").update(draft.body.encode())
    meta_json = io.BytesIO(json.dumps(meta).encode())
    items.append(_seal_item(blobs, key, message.id, ItemRole.META, 0, meta_json))
    body = io.BytesIO(draft.body.encode())
    items.append(_seal_item(blobs, key, message.id, ItemRole.BODY, 0, body))
    total = sum(a.size for a in draft.attachments)
    done = 0
    for position, attachment in enumerate(draft.attachments):

        def report(n: int, base: int = done) -> None:
            if progress:
                progress(base + n, total)

        with attachment.open() as raw:
            source = ExactReader(raw, attachment)
            seen: io.RawIOBase = source
            if commitments is not None:
                seen = Observed(source, commitments.item(f"attachment {position + 1}"))
            # A raw binary reader: what seal_stream reads, though not typed as BinaryIO.
            reader = cast(BinaryIO, seen)
            role = ItemRole.ATTACHMENT
            items.append(_seal_item(blobs, key, message.id, role, position, reader, report))
            source.check_complete()
        done += attachment.size
    return key


def sealed_item(message: Message, role: ItemRole, position: int = 0) -> SealedItem:
    for item in message.items:
        if item.role == role and item.position == position:
            return item
    raise CannotOpen("message item missing")


def _open_small(blobs: BlobStore, key: ContentKey, message: Message, role: ItemRole) -> bytes:
    sink = io.BytesIO()
    with blobs.open(sealed_item(message, role).blob_id) as source:
        open_stream(key, labels.stream_item(message.id, role), source, sink)
    return sink.getvalue()


def content_binding(message: Message) -> bytes:
    """What the content key's wrap to the mailbox is bound to, by the message's format."""
    if message.binding_format == 1:
        return labels.content_key(message.id)
    return labels.content_key_v2(
        message.id, message.conversation_id, message.direction.value, message.author_id
    )


def _content_key(mailbox_key: MailboxPrivateKey, message: Message) -> ContentKey:
    return ContentKey(mailbox_key.unwrap(message.wrapped_key, content_binding(message)))


def open_message(
    *, blobs: BlobStore, mailbox_key: MailboxPrivateKey, message: Message, secret: ServerSecret
) -> tuple[OpenedMessage, ContentKey]:
    check_origin(secret, message)
    key = _content_key(mailbox_key, message)
    return read_message(blobs=blobs, key=key, message=message, secret=secret), key


def open_summary(
    *, blobs: BlobStore, mailbox_key: MailboxPrivateKey, message: Message, secret: ServerSecret
) -> tuple[Sender, str]:
    """Only who sent ``message`` and its subject (its meta item; the body stays closed):
    for lists and the search index."""
    check_origin(secret, message)
    key = _content_key(mailbox_key, message)
    try:
        meta = json.loads(_open_small(blobs, key, message, ItemRole.META))
        return Sender(**meta["sender"]), str(meta["subject"])
    except (ValueError, KeyError, TypeError):
        raise CannotOpen("message content malformed") from None


def open_sender(
    *, blobs: BlobStore, mailbox_key: MailboxPrivateKey, message: Message, secret: ServerSecret
) -> Sender:
    """Only who sent ``message`` (see :func:`open_summary`)."""
    return open_summary(blobs=blobs, mailbox_key=mailbox_key, message=message, secret=secret)[0]


def read_message(
    *, blobs: BlobStore, key: ContentKey, message: Message, secret: ServerSecret
) -> OpenedMessage:
    """Open meta and body with a content key already unwrapped (by staff or a recipient),
    if the message's origin tag matches (a recipient's key comes by the thread key)."""
    check_origin(secret, message)
    try:
        meta = json.loads(_open_small(blobs, key, message, ItemRole.META))
        body = _open_small(blobs, key, message, ItemRole.BODY).decode("utf-8")
        opened = OpenedMessage(
            message=message,
            sender=Sender(**meta["sender"]),
            subject=meta["subject"],
            body=body,
            attachments=[AttachmentInfo(**a) for a in meta["attachments"]],
            sent_at=meta["sent_at"],
            receipt_code=str(meta.get("receipt", "")),
        )
    except (ValueError, KeyError, TypeError):
        # Authentic but not what we wrote: treat like any other unopenable content.
        raise CannotOpen("message content malformed") from None
    return opened
