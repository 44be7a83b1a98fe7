"""The file area of one SSH session: where a practitioner's files come in and go out.

Over SSH the app runs on the organisation's host, not on the practitioner's machine.
``veilig serve ssh`` gives every session a fresh folder with ``upload/`` and
``download/``, reachable over SFTP/scp only with that session's random login, and
hands it to the app in the environment. Inside such a session, files are attached
only from ``upload/`` and saved only into ``download/``: the app's process can read
other files of the host, but the person at the keyboard cannot make it use them.
``veilig serve web`` gives each browser tab the same kind of area; there the browser
uploads into ``upload/`` and the app hands saved files to the browser as downloads.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInput
from core.i18n import _

ENV_DIR = "VEILIG_TRANSFER_DIR"
ENV_LOGIN = "VEILIG_TRANSFER_LOGIN"  # f-…@host: the session's SFTP login
ENV_PORT = "VEILIG_TRANSFER_PORT"
ENV_KIND = "VEILIG_TRANSFER_KIND"  # "ssh" (the default) or "browser"

SSH = "ssh"
BROWSER = "browser"

UPLOAD = "upload"
DOWNLOAD = "download"


@dataclass(frozen=True)
class TransferArea:
    root: Path
    login: str
    port: int
    kind: str = SSH  # how files reach the area: scp/sftp (SSH) or the page (BROWSER)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TransferArea | None:
        folder = env.get(ENV_DIR)
        if not folder:
            return None
        return cls(
            root=Path(folder),
            login=env.get(ENV_LOGIN, ""),
            port=int(env.get(ENV_PORT) or 22),
            kind=BROWSER if env.get(ENV_KIND) == BROWSER else SSH,
        )

    def env(self) -> dict[str, str]:
        return {
            ENV_DIR: str(self.root),
            ENV_LOGIN: self.login,
            ENV_PORT: str(self.port),
            ENV_KIND: self.kind,
        }

    @property
    def in_browser(self) -> bool:
        return self.kind == BROWSER

    @property
    def upload(self) -> Path:
        return self.root / UPLOAD

    @property
    def download(self) -> Path:
        return self.root / DOWNLOAD

    def shown(self, path: Path) -> str:
        """``path`` as the person knows it: inside the area (``upload/verslag.pdf``), as
        sftp shows it; never where the host keeps the area."""
        if path.is_relative_to(self.root):
            return str(path.relative_to(self.root))
        if path.is_relative_to(self.root.resolve()):
            return str(path.relative_to(self.root.resolve()))
        return path.name

    def typed_folder(self, text: str) -> Path:
        """A folder the person typed, named as in the area: ``download`` and
        ``/download`` are the area's; nothing they type names a place on the host."""
        typed = Path(text.strip() or ".")
        return self.root / typed.relative_to(typed.anchor) if typed.anchor else self.root / typed

    # --- what the person types on their own machine ------------------------------------

    def upload_command(self) -> str:
        return f"scp -P {self.port} FILE {shlex.quote(self.login + ':' + UPLOAD + '/')}"

    def download_command(self) -> str:
        return f"scp -P {self.port} {shlex.quote(self.login + ':' + DOWNLOAD + '/*')} ."

    def sftp_command(self) -> str:
        return f"sftp -P {self.port} {shlex.quote(self.login)}"

    # --- confinement -------------------------------------------------------------------

    def upload_path(self, typed: Path) -> Path:
        """A typed path, relative to ``upload/``; refused unless it really lies there
        (after following every symlink and ``..``)."""
        path = typed if typed.is_absolute() else self.upload / typed
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise InvalidInput(_("There is no file at {path}.").format(path=typed)) from None
        if not real.is_relative_to(self.upload.resolve()):
            if self.in_browser:
                raise InvalidInput(_("In the browser, attach files with the page's Add a file."))
            raise InvalidInput(_("Over SSH, files can only be attached from your upload folder."))
        return real  # from_path opens this very file, refusing a symlink put there since

    def check_download_folder(self, folder: Path) -> None:
        if folder.resolve() != self.download.resolve():
            raise InvalidInput(_("Over SSH, attachments are saved only in your download folder."))
