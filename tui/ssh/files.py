"""The per-session file areas of ``veilig serve ssh``, and the SFTP server that reaches one.

Every terminal session gets a fresh folder (0700) with ``upload/`` and ``download/``,
and a login name of 160 random bits (``f-…``). That login is the only key to the
folder: it exists while the session lives, it reaches only that folder (asyncssh's
chroot), it may not make links, change owners or open anything to others, and with
the session the login and the folder are gone. A guess at a login succeeds with
chance 2^-160; nobody else's folder is ever named to anyone, and no answer names
the host's own paths.

One server per root: a server holds a lock on the root for as long as it runs, and a
second one on the same root refuses to start instead of deleting the live areas.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hmac
import logging
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from core.errors import VeiligError
from core.i18n import _
from core.transfer import DOWNLOAD, UPLOAD, TransferArea

log = logging.getLogger(__name__)

LOGIN_PREFIX = "f-"
NOT_FOR_CLIENTS = 0o7077  # mode bits a client may not set: set-id, sticky, group, others


def new_login() -> str:
    return LOGIN_PREFIX + base64.b32encode(secrets.token_bytes(20)).decode().lower()


@dataclass
class SessionArea:
    login: str
    root: Path
    connections: list[asyncssh.SSHServerConnection] = field(default_factory=list)

    def transfer(self, public_host: str, port: int) -> TransferArea:
        return TransferArea(root=self.root, login=f"{self.login}@{public_host}", port=port)


class FileAreas:
    """All live areas, under one root that lies outside ``VEILIG_HOME``: files there
    are the practitioner's, and veilig never attaches its own data files.

    The default root is fixed per system user (``$TMPDIR/veilig-ssh-UID``), so that a
    server that was killed leaves nothing behind for long: the next start deletes the
    areas it finds. That is safe only because one server owns a root: it holds an
    exclusive lock on the root folder itself (``flock``, released by the kernel when the
    process ends, however it ends), and a second server on the same root is refused
    before it touches anything."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.gettempdir()) / f"veilig-ssh-{os.getuid()}"
        try:
            self.root.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            _check_private_folder(self.root)
        self._lock = _lock_folder(self.root)
        for stale in self.root.glob("s-*"):  # ours alone now: left by a killed server
            shutil.rmtree(stale, ignore_errors=True)
        self.areas: list[SessionArea] = []

    def create(self) -> SessionArea:
        folder = Path(tempfile.mkdtemp(prefix="s-", dir=self.root))
        for name in (UPLOAD, DOWNLOAD):
            (folder / name).mkdir(mode=0o700)
        area = SessionArea(new_login(), folder)
        self.areas.append(area)
        return area

    def find(self, login: str) -> SessionArea | None:
        found = None
        for area in self.areas:  # compare every one, in constant time each
            if hmac.compare_digest(area.login.encode(), login.encode()):
                found = area
        return found

    def remove(self, area: SessionArea) -> None:
        """The session ended: its login stops working, its connections close, its
        files are deleted."""
        if area in self.areas:
            self.areas.remove(area)
        for conn in area.connections:
            conn.close()
        shutil.rmtree(area.root, ignore_errors=True)

    def close(self) -> None:
        for area in list(self.areas):
            self.remove(area)
        if self._lock >= 0:
            os.close(self._lock)  # and with it the lock: another server may take the root
            self._lock = -1


def _lock_folder(folder: Path) -> int:
    """An exclusive lock on ``folder``, held by the returned descriptor (not inherited by
    the sessions' processes). The folder itself is locked, not a file in it, so that
    nothing can be deleted to break the lock."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise VeiligError(
            _(
                "Another veilig server uses {path} for its file areas; give each server "
                "its own folder with --files."
            ).format(path=folder)
        ) from None
    return fd


def _check_private_folder(folder: Path) -> None:
    """A root in a shared temporary folder must be ours: not a symlink someone planted,
    not another user's, not open to others."""
    st = folder.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise VeiligError(
            _("{path} is not a private folder of this user; choose another with --files.").format(
                path=folder
            )
        )


@contextlib.contextmanager
def _as_the_client_named_it(path: bytes) -> Iterator[None]:
    """An error about a file names it as the client did, never by its place on the host:
    scp (``-O``) puts the file name of an error into its message."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path.decode("utf-8", "replace")) from None


def _owner_only(attrs: asyncssh.SFTPAttrs) -> asyncssh.SFTPAttrs:
    """Attributes a client asked for, held to what keeps the area private: a mode keeps
    only the owner's read, write and execute bits (``chmod 777`` would open the folder to
    every user of the host; a set-id bit would lend the server's user to a program), and
    no owner or group changes hands."""
    if any(v is not None for v in (attrs.uid, attrs.gid, attrs.owner, attrs.group)):
        raise asyncssh.SFTPPermissionDenied(_("owners cannot be changed here"))
    if attrs.permissions is not None:
        attrs.permissions &= ~NOT_FOR_CLIENTS
    return attrs


class AreaSFTPServer(asyncssh.SFTPServer):
    """SFTP (and scp) inside one session's area: chrooted, no links of any kind (so
    nothing in the area can point outside it), nothing made readable for others, and
    nothing said about the host (its paths, its disk, its user names)."""

    def __init__(self, chan: asyncssh.SSHServerChannel, area: SessionArea) -> None:
        super().__init__(chan, chroot=str(area.root).encode())

    def exit(self) -> None:
        # OpenSSH's scp (SFTP mode) counts a channel closed without an exit status as a
        # failed copy, even when every byte arrived.
        with contextlib.suppress(OSError, asyncssh.Error):
            self.channel.exit(0)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied(_("links are not allowed here"))

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied(_("links are not allowed here"))

    def statvfs(self, path: bytes) -> object:
        raise asyncssh.SFTPOpUnsupported(_("not available here"))

    def fstatvfs(self, file_obj: object) -> object:
        raise asyncssh.SFTPOpUnsupported(_("not available here"))

    def format_user(self, uid: int | None) -> str:
        return "-"  # not the host's account names

    def format_group(self, gid: int | None) -> str:
        return "-"

    # --- the rest: as asyncssh does it, with the two rules above -----------------------

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        with _as_the_client_named_it(path):
            return super().open(path, pflags, _owner_only(attrs))

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        with _as_the_client_named_it(path):
            super().mkdir(path, _owner_only(attrs))

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        with _as_the_client_named_it(path):
            super().setstat(path, _owner_only(attrs))

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        with _as_the_client_named_it(path):
            super().lsetstat(path, _owner_only(attrs))

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        super().fsetstat(file_obj, _owner_only(attrs))

    def stat(self, path: bytes) -> object:
        with _as_the_client_named_it(path):
            return super().stat(path)

    def lstat(self, path: bytes) -> object:
        with _as_the_client_named_it(path):
            return super().lstat(path)

    def remove(self, path: bytes) -> None:
        with _as_the_client_named_it(path):
            super().remove(path)

    def rmdir(self, path: bytes) -> None:
        with _as_the_client_named_it(path):
            super().rmdir(path)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        with _as_the_client_named_it(oldpath):
            super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        with _as_the_client_named_it(oldpath):
            super().posix_rename(oldpath, newpath)

    def realpath(self, path: bytes) -> bytes:
        with _as_the_client_named_it(path):
            return super().realpath(path)  # type: ignore[return-value]

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        with _as_the_client_named_it(path):
            async for name in super().scandir(path):
                yield name
