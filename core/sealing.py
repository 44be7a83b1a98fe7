"""Sealing a whole message (meta, body, attachments) into the blob store, and opening it.

Every item is its own stream under the message's one content key; the stream
context names message and item, so blobs cannot be swapped between them unnoticed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from core.directio import DurableFile, sync_directory
from core.display import human_size
from core.errors import CannotOpen, InvalidInput
from core.filenames import safe_name, unused_path
from core.i18n import _
from core.keys import MailboxPrivateKey, MailboxPublicKey, unwrap_content_key, wrap_content_key
from core.models import ItemRole, Message, SealedItem
from core.pipeline import open_file, seal_file
from core.policy import Policy
from core.ports import BlobStore
from core.stream import ContentKey, new_content_key, open_stream, seal_stream

Progress = Callable[[int, int], None]  # bytes done, bytes in all


@dataclass(frozen=True, eq=False)
class Attachment:
    """A file to send: the file that was checked, held open, and the name it travels under.

    The file is opened once, when attached, and sent from that same open file: swapping
    the path for a symlink or another file afterwards changes nothing that is sent.
    """

    # Content (GDPR art. 9) in names and text never shows in a repr, so never in a
    # traceback that prints locals (Textual's crash screen, pytest --showlocals).
    path: Path = field(repr=False)
    name: str = field(repr=False)
    size: int
    fd: int = field(default=-1, repr=False)

    @classmethod
    def from_path(cls, path: Path, policy: Policy, *, protected: Path | None = None) -> Attachment:
        """Check a file before any heavy work: it exists, is a regular file, fits the
        limits, and is not one of veilig's own files (``protected``: the data directory),
        not even through a symlink or a hard link."""
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise InvalidInput(_("There is no file at {path}.").format(path=path)) from None
        if protected is not None and real.is_relative_to(protected.resolve()):
            raise InvalidInput(_("Files of veilig itself cannot be attached."))
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except PermissionError:
            raise InvalidInput(_("{path} cannot be read.").format(path=path)) from None
        except OSError:
            raise InvalidInput(_("{path} is not a file.").format(path=path)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(_("{path} is not a file.").format(path=path))
            if protected is not None and (st.st_dev, st.st_ino) in _inodes(protected):
                raise InvalidInput(_("Files of veilig itself cannot be attached."))
            if st.st_size > policy.max_attachment_bytes:
                limit = human_size(policy.max_attachment_bytes)
                raise InvalidInput(
                    _("{name} is larger than the limit of {limit} per file.").format(
                        name=path.name, limit=limit
                    )
                )
        except BaseException:
            os.close(fd)
            raise
        return cls(path=path, name=path.name, size=st.st_size, fd=fd)

    def open(self) -> BinaryIO:
        """A reader on the checked file, from its start."""
        duplicate = os.dup(self.fd)
        os.lseek(duplicate, 0, os.SEEK_SET)
        return os.fdopen(duplicate, "rb")

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)


def _inodes(folder: Path) -> set[tuple[int, int]]:
    """The files of the data directory, by device and inode (to catch hard links).
    Blobs are left out: they are ciphertext, and there may be very many."""
    found = set()
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "blobs"]
        for name in files:
            with contextlib.suppress(OSError):
                st = os.stat(os.path.join(root, name), follow_symlinks=False)
                found.add((st.st_dev, st.st_ino))
    return found


@dataclass(frozen=True)
class Draft:
    subject: str = field(repr=False)  # plaintext: never in a repr (see Attachment)
    body: str = field(repr=False)
    attachments: tuple[Attachment, ...] = ()

    def check(self, policy: Policy) -> None:
        if not self.subject.strip() and not self.body.strip() and not self.attachments:
            raise InvalidInput(_("The message is empty."))
        check_attachments(self.attachments, policy)


def check_attachments(attachments: tuple[Attachment, ...], policy: Policy) -> None:
    """The limits per message; called as each file is added, and again before sealing."""
    if len(attachments) > policy.max_attachments:
        raise InvalidInput(_("Too many attachments in one message."))
    if sum(a.size for a in attachments) > policy.max_message_bytes:
        raise InvalidInput(_("The attachments together are larger than the limit per message."))


@dataclass(frozen=True)
class Sender:
    name: str
    email: str


@dataclass(frozen=True)
class AttachmentInfo:
    name: str = field(repr=False)  # plaintext: never in a repr (see Attachment)
    size: int


@dataclass
class OpenedMessage:
    message: Message
    sender: Sender
    subject: str = field(repr=False)  # plaintext: never in a repr (see Attachment)
    body: str = field(repr=False)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    sent_at: str = ""


class _ExactReader(io.RawIOBase):
    """Reads exactly the size a file had when it was attached, or refuses.

    Sizes are checked when a file is attached, but the file could change before it is
    sent: grow past the limits, or be a /proc file that says 0 bytes and yields more.
    """

    def __init__(self, raw: BinaryIO, attachment: Attachment) -> None:
        self.raw = raw
        self.attachment = attachment
        self.seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.seen += n or 0
        if self.seen > self.attachment.size:
            raise self._changed()
        return n or 0

    def check_complete(self) -> None:
        if self.seen != self.attachment.size:
            raise self._changed()

    def _changed(self) -> InvalidInput:
        return InvalidInput(
            _("{name} changed after it was attached. Please attach it again.").format(
                name=self.attachment.name
            )
        )


def _context(message_id: str, role: ItemRole, position: int = 0) -> bytes:
    return f"{message_id}|{role}|{position}".encode()


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
        seal(key, _context(message_id, role, position), source, sink, progress)
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
) -> ContentKey:
    """Seal ``draft`` into ``blobs`` and fill ``message`` with the wrapped key and items.

    Returns the content key, for wrapping to other readers (a participant's thread key).
    """
    items: list[SealedItem] = []
    try:
        key = _seal_all(blobs, mailbox_key, message, sender, draft, items, progress)
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
) -> ContentKey:
    key = new_content_key()
    message.wrapped_key = wrap_content_key(mailbox_key, key, message.id)
    meta = {
        "v": 1,
        "sender": {"name": sender.name, "email": sender.email},
        "subject": draft.subject,
        "attachments": [{"name": a.name, "size": a.size} for a in draft.attachments],
        "sent_at": message.created_at.isoformat(),
    }
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
            source = _ExactReader(raw, attachment)
            items.append(
                _seal_item(blobs, key, message.id, ItemRole.ATTACHMENT, position, source, report)
            )
            source.check_complete()
        done += attachment.size
    return key


def _item(message: Message, role: ItemRole, position: int = 0) -> SealedItem:
    for item in message.items:
        if item.role == role and item.position == position:
            return item
    raise CannotOpen("message item missing")


def _open_small(blobs: BlobStore, key: ContentKey, message: Message, role: ItemRole) -> bytes:
    sink = io.BytesIO()
    with blobs.open(_item(message, role).blob_id) as source:
        open_stream(key, _context(message.id, role), source, sink)
    return sink.getvalue()


def open_message(
    *, blobs: BlobStore, mailbox_key: MailboxPrivateKey, message: Message
) -> tuple[OpenedMessage, ContentKey]:
    key = unwrap_content_key(mailbox_key, message.wrapped_key, message.id)
    return read_message(blobs=blobs, key=key, message=message), key


def open_sender(*, blobs: BlobStore, mailbox_key: MailboxPrivateKey, message: Message) -> Sender:
    """Only who sent ``message`` (its meta item; the body stays closed): for lists."""
    key = unwrap_content_key(mailbox_key, message.wrapped_key, message.id)
    try:
        meta = json.loads(_open_small(blobs, key, message, ItemRole.META))
        return Sender(**meta["sender"])
    except (ValueError, KeyError, TypeError):
        raise CannotOpen("message content malformed") from None


def read_message(*, blobs: BlobStore, key: ContentKey, message: Message) -> OpenedMessage:
    """Open meta and body with a content key already unwrapped (by staff or a recipient)."""
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
        )
    except (ValueError, KeyError, TypeError):
        # Authentic but not what we wrote: treat like any other unopenable content.
        raise CannotOpen("message content malformed") from None
    return opened


def save_attachment(
    *,
    blobs: BlobStore,
    key: ContentKey,
    message: Message,
    position: int,
    destination: Path,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Decrypt one attachment to ``destination`` (a new file; never overwrites).

    Use :func:`save_attachment_in` to save under the sender's name, made safe.

    The plaintext goes to a temporary file beside it and is linked into place only once
    the whole stream verified and the file is on disk (written with O_DIRECT as it goes,
    then fsync: ``core.directio``), so a tampered blob or a crash leaves no half file.
    """
    item = _item(message, ItemRole.ATTACHMENT, position)
    fd, tmp_name = tempfile.mkstemp(prefix=".veilig-", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        with DurableFile(fd) as sink, blobs.open(item.blob_id) as source:
            context = _context(message.id, ItemRole.ATTACHMENT, position)
            open_file(key, context, source, sink, progress)  # type: ignore[arg-type]
            sink.finish()
        os.link(tmp, destination)  # fails if destination exists: never overwrite
        sync_directory(destination.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return destination


def save_attachment_in(
    *,
    blobs: BlobStore,
    key: ContentKey,
    opened: OpenedMessage,
    position: int,
    folder: Path,
    protected: Path | None = None,
) -> Path:
    """Save attachment ``position`` in ``folder`` under its own name, made safe, beside
    (never over) files already there; never into veilig's data directory."""
    if not folder.is_dir():
        raise InvalidInput(_("There is no folder at {path}.").format(path=folder))
    if protected is not None and folder.resolve().is_relative_to(protected.resolve()):
        raise InvalidInput(_("Attachments cannot be saved in veilig's own data folder."))
    name = safe_name(opened.attachments[position].name)
    for _attempt in range(100):
        try:
            return save_attachment(
                blobs=blobs,
                key=key,
                message=opened.message,
                position=position,
                destination=unused_path(folder, name),
            )
        except FileExistsError:
            continue  # someone took the name between our look and our link: next one
    raise InvalidInput(_("Could not find a free file name in {path}.").format(path=folder))
