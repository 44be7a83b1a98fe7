"""Saving a received attachment from the blob store into a folder the person chose.

The name came from whoever sent the file: it is made safe (core.filenames), placed
beside files already there and never over one, and never in veilig's own data
directory. The plaintext reaches its name only once the whole stream verified.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from core import labels
from core.directio import DurableFile, sync_directory
from core.errors import InvalidInput
from core.filenames import safe_name, unused_path
from core.i18n import _
from core.models import ItemRole, Message
from core.pipeline import open_file
from core.ports import BlobStore
from core.sealing import OpenedMessage, sealed_item
from core.stream import ContentKey


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
    item = sealed_item(message, ItemRole.ATTACHMENT, position)
    context = labels.stream_item(message.id, ItemRole.ATTACHMENT, position)
    fd, tmp_name = tempfile.mkstemp(prefix=".veilig-", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        with DurableFile(fd) as sink, blobs.open(item.blob_id) as source:
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
