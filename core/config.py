"""Settings from the environment, per the contract in the README.

Reading the environment happens only when asked (``Settings.from_env``), never at
import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from core.transfer import TransferArea

# Written by `veilig serve ssh --public-host` while it runs (tui/ssh/keys.py): HOST:PORT.
PUBLIC_ROUTE_FILE = Path("ssh") / "public_route"


@dataclass(frozen=True)
class Settings:
    home: Path
    # The URLs may carry credentials (a database or SMTP password, a Twilio token):
    # repr=False keeps them out of tracebacks that show locals.
    database_url: str = field(repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    sms_url: str | None = field(default=None, repr=False)
    language: str | None = None
    transfer: TransferArea | None = None  # set by `veilig serve ssh/web` for its sessions
    # Where outside people open messages besides `veilig open`, named in the e-mails:
    # the web address (`veilig serve web`) and the SSH address (`veilig serve ssh`).
    public_url: str | None = None  # https://veilig.example.nl
    public_ssh: str | None = None  # veilig.example.nl:2222; see public_ssh_route
    maildir_path: Path | None = None  # VEILIG_MAILDIR; unset: beside the home (maildir)
    # Which client or host the audit log names for what this process does (NEN 7513):
    # VEILIG_CLIENT (set by `veilig serve ssh/web` for their sessions: "ssh 192.0.2.7"),
    # else the address of an OpenSSH client, else this terminal's user and host.
    client: str = ""
    # VEILIG_SHARED: a folder every host of one office mounts (README "Several hosts"):
    # the sealed blobs and the audit head live there instead of in this host's home.
    shared: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("VEILIG_HOME") or platformdirs.user_data_dir("veilig")).expanduser()
        return cls(
            home=home,
            database_url=env.get("VEILIG_DATABASE_URL") or f"sqlite:///{home / 'veilig.db'}",
            smtp_url=env.get("VEILIG_SMTP_URL") or None,
            sms_url=env.get("VEILIG_SMS_URL") or None,
            language=env.get("VEILIG_LANG") or None,
            transfer=TransferArea.from_env(env),
            public_url=env.get("VEILIG_PUBLIC_URL") or None,
            public_ssh=env.get("VEILIG_PUBLIC_SSH") or None,
            maildir_path=Path(env["VEILIG_MAILDIR"]) if env.get("VEILIG_MAILDIR") else None,
            client=_client(env),
            shared=Path(env["VEILIG_SHARED"]) if env.get("VEILIG_SHARED") else None,
        )

    def public_ssh_route(self) -> str | None:
        """Where outside people reach ``veilig serve ssh``: ``VEILIG_PUBLIC_SSH``, else the
        route that a server started with ``--public-host`` on this home recorded. The
        server knows the name people type; the desk that writes the notification runs
        elsewhere, often locally, and would otherwise need the same setting again."""
        if self.public_ssh:
            return self.public_ssh
        try:
            route = (self.home / PUBLIC_ROUTE_FILE).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        if not route or "@" in route or any(ch.isspace() for ch in route):
            return None  # not one: the e-mails name the other ways
        return route

    @property
    def audit_client(self) -> str:
        return self.client or _client(os.environ)

    @property
    def maildir(self) -> Path:
        """Where mail goes when no SMTP server is set: for trying veilig out. Not inside
        the home: notification mails hold references in the clear, and with the database
        and server.key beside them a backup of the home would open every conversation."""
        if self.maildir_path is not None:
            return self.maildir_path
        return self.home.with_name(self.home.name + "-mail")

    @property
    def blob_dir(self) -> Path:
        return (self.shared or self.home) / "blobs"

    @property
    def audit_head(self) -> Path:
        """One head for one chain: with several hosts, in the shared folder."""
        return (self.shared or self.home) / "audit.head"

    @property
    def sms_log(self) -> Path:
        return self.home / "sms.log"

    def ensure_home(self) -> None:
        """Create the data directory, private to this user (0700)."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.home, 0o700)


def _client(env: Mapping[str, str]) -> str:
    """Where this process's person is, for the audit log: informative, not an identity
    (an OpenSSH client's address comes from its environment, which the client can
    shape; who acted is the log-in, the actor)."""
    if env.get("VEILIG_CLIENT"):
        return env["VEILIG_CLIENT"][:100]
    ssh = env.get("SSH_CONNECTION", "").split()
    if ssh:
        return f"ssh {ssh[0]}"
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"terminal {user}@{socket.gethostname()}"
