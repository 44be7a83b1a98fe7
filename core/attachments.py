"""Files to send: checked before any heavy work, held open, and read exactly as checked.

A file is opened once, when it is attached, and sent from that same open file:
swapping the path for a symlink or another file afterwards changes nothing that is
sent. It must be a regular file within the policy's limits, and never one of
veilig's own files (the data directory), not even through a symlink or a hard link.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.display import human_size
from core.errors import InvalidInput
from core.i18n import _
from core.policy import Policy

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


@dataclass(frozen=True, eq=False)
class Attachment:
    """A file to send: the file that was checked, held open, and the name it travels under."""

    # Content (GDPR art. 9) in names and text never shows in a repr, so never in a
    # traceback that prints locals (Textual's crash screen, pytest --showlocals).
    path: Path = field(repr=False)
    name: str = field(repr=False)
    size: int
    fd: int = field(default=-1, repr=False)

    @classmethod
    def from_path(
        cls, path: Path, policy: Policy, *, protected: Path | None = None, shown: str = ""
    ) -> Attachment:
        """Check a file before any heavy work: it exists, is a regular file, fits the
        limits, and is not one of veilig's own files (``protected``: the data directory),
        not even through a symlink or a hard link. A refusal names the file as ``shown``
        (over SSH: inside the session's area, not where the host keeps it), else its path."""
        shown = shown or str(path)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise InvalidInput(_("There is no file at {path}.").format(path=shown)) from None
        if protected is not None and real.is_relative_to(protected.resolve()):
            raise InvalidInput(_("Files of veilig itself cannot be attached."))
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except PermissionError:
            raise InvalidInput(_("{path} cannot be read.").format(path=shown)) from None
        except OSError:
            raise InvalidInput(_("{path} is not a file.").format(path=shown)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(_("{path} is not a file.").format(path=shown))
            if protected is not None and (st.st_dev, st.st_ino) in _inodes(protected):
                raise InvalidInput(_("Files of veilig itself cannot be attached."))
            if st.st_size > policy.max_attachment_bytes:
                limit = human_size(policy.max_attachment_bytes)
                raise InvalidInput(
                    _("{name} is too large: a file can be at most {limit}.").format(
                        name=path.name, limit=limit
                    )
                )
        except BaseException:
            os.close(fd)
            raise
        return cls(path=path, name=path.name, size=st.st_size, fd=fd)

    def open(self) -> io.BufferedReader:
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


def check_attachments(attachments: tuple[Attachment, ...], policy: Policy) -> None:
    """The limits per message; called as each file is added, and again before sealing."""
    if len(attachments) > policy.max_attachments:
        raise InvalidInput(
            _("Too many attachments: at most {n} per message.").format(n=policy.max_attachments)
        )
    if sum(a.size for a in attachments) > policy.max_message_bytes:
        raise InvalidInput(
            _("Together the attachments are too large: at most {limit} per message.").format(
                limit=human_size(policy.max_message_bytes)
            )
        )


class ExactReader(io.RawIOBase):
    """Reads exactly the size a file had when it was attached, or refuses.

    Sizes are checked when a file is attached, but the file could change before it is
    sent: grow past the limits, or be a /proc file that says 0 bytes and yields more.
    """

    def __init__(self, raw: io.BufferedReader, attachment: Attachment) -> None:
        self.raw = raw
        self.attachment = attachment
        self.seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = self.raw.readinto(buffer)
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
