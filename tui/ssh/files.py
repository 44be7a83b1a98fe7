"""The per-session file areas of ``veilig serve ssh``, and the SFTP server that reaches one.

Every terminal session gets a fresh folder (0700) with ``upload/`` and ``download/``,
and a login name of 160 random bits (``f-…``). That login is the only key to the
folder: it exists while the session lives, it reaches only that folder (asyncssh's
chroot), it may not make links, and with the session the login and the folder are
gone. A guess at a login succeeds with chance 2^-160; nobody else's folder is ever
named to anyone.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import os
import secrets
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from core.errors import VeiligError
from core.i18n import _
from core.transfer import DOWNLOAD, UPLOAD, TransferArea

log = logging.getLogger(__name__)

LOGIN_PREFIX = "f-"


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
    areas it finds. One server per root."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.gettempdir()) / f"veilig-ssh-{os.getuid()}"
        try:
            self.root.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            _check_private_folder(self.root)
        for stale in self.root.glob("s-*"):
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


class AreaSFTPServer(asyncssh.SFTPServer):
    """SFTP (and scp) inside one session's area: chrooted, and no links of any kind,
    so nothing in the area can point outside it."""

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
