"""Files through the browser: uploads into a session's area, downloads of what it delivers.

An upload is the raw body of ``POST /upload``; its name (header ``X-Veilig-Name``,
percent-encoded UTF-8) loses folders, control characters and the like
(:func:`core.filenames.safe_name`), never replaces a file and never follows a link. The
dialog's own attachment limits hold while the bytes arrive, so a file too large is cut
off at the limit, not after it filled the disk. A download is sent as
``application/octet-stream``, as an attachment, under a sandboxing CSP: whatever the
file holds (HTML, SVG), it is never shown as a page of this site.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote

from aiohttp import web

from core.display import human_size
from core.filenames import safe_name, unused_path
from core.i18n import _
from core.policy import Policy
from tui.web.session import Uploads, WebSession

FILES_HEADER = "X-Veilig-Files"  # the session's file secret: never in a URL
NAME_HEADER = "X-Veilig-Name"
UPLOAD_PIECE = 64 * 1024


class UploadRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def receive(request: web.Request, folder: Path, uploads: Uploads, policy: Policy) -> str:
    """Store the request's body in ``folder``; the name it was stored under."""
    too_big = UploadRefused(
        413,
        _("A file may be {size} at most, and all files together {total}.").format(
            size=human_size(policy.max_attachment_bytes),
            total=human_size(policy.max_message_bytes),
        ),
    )
    if uploads.count >= policy.max_attachments:
        raise UploadRefused(
            413, _("At most {n} files can be attached.").format(n=policy.max_attachments)
        )
    length = request.content_length
    if length is not None and (
        length > policy.max_attachment_bytes or uploads.bytes + length > policy.max_message_bytes
    ):
        raise too_big
    name = safe_name(unquote(request.headers.get(NAME_HEADER, ""), errors="replace"))
    path, out = _create(folder, name)
    uploads.count += 1  # counted from the start: two uploads at once share the limits
    written = 0
    try:
        with out:
            async for piece in request.content.iter_chunked(UPLOAD_PIECE):
                written += len(piece)
                if (
                    written > policy.max_attachment_bytes
                    or uploads.bytes + written > policy.max_message_bytes
                ):
                    raise too_big
                out.write(piece)
    except BaseException:
        uploads.count -= 1
        path.unlink(missing_ok=True)
        raise
    uploads.bytes += written
    return path.name


def _create(folder: Path, name: str) -> tuple[Path, BinaryIO]:
    """A new file for an upload: never over another, never through a link."""
    while True:
        path = unused_path(folder, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue  # another upload took the name just now
        return path, os.fdopen(fd, "wb")


async def send(
    request: web.Request, session: WebSession, key: str, name: str
) -> web.StreamResponse:
    """Stream one delivered file to the browser, piece by piece from the app. Cut off
    (the app ended or stalled), the connection closes without the last chunk, and the
    browser shows a failed download rather than a short file."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": _attachment(name),
            "Content-Security-Policy": "sandbox; default-src 'none'",
        }
    )
    await response.prepare(request)
    async for piece in session.delivery_chunks(key):
        await response.write(piece)
    await response.write_eof()
    return response


def _attachment(name: str) -> str:
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
