"""Keys of ``veilig serve ssh``: the server's host key and the staff members' SSH keys.

Both live in ``VEILIG_HOME/ssh/`` (0700). Staff keys are a small file of
``SHA256:fingerprint email`` lines, written only by ``veilig staff add-key``: a
person is recognised by the key they prove to hold, never by the user name their
client claims. The key only chooses the account; the desk still asks for password
and TOTP, so a stolen laptop key alone opens nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from core.errors import InvalidInput
from core.i18n import _

HOST_KEY = "host_ed25519"
STAFF_KEYS = "staff_keys"


def ssh_dir(home: Path) -> Path:
    folder = home / "ssh"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def load_or_create_host_key(home: Path) -> asyncssh.SSHKey:
    """The host key, made on first start (ed25519, 0600) and the same ever after:
    clients remember it, and a new one would look like an attack."""
    path = ssh_dir(home) / HOST_KEY
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.export_private_key())
    return asyncssh.read_private_key(path)


def fingerprint_of(public_key_text: str) -> str:
    try:
        key = asyncssh.import_public_key(public_key_text.strip())
    except (asyncssh.KeyImportError, ValueError):
        raise InvalidInput(_("This is not an SSH public key.")) from None
    return str(key.get_fingerprint("sha256"))


def staff_keys(home: Path) -> dict[str, str]:
    """Fingerprint → staff e-mail."""
    path = home / "ssh" / STAFF_KEYS
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            found[parts[0]] = parts[1]
    return found


def add_staff_key(home: Path, email: str, public_key_text: str) -> str:
    """Register a key to a staff account; returns its fingerprint. One key, one account."""
    fingerprint = fingerprint_of(public_key_text)
    known = staff_keys(home)
    if fingerprint in known and known[fingerprint] != email:
        raise InvalidInput(
            _("This key already belongs to {email}.").format(email=known[fingerprint])
        )
    if fingerprint not in known:
        path = ssh_dir(home) / STAFF_KEYS
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(f"{fingerprint} {email}\n")
    return fingerprint


def remove_staff_keys(home: Path, email: str) -> int:
    """Delete every SSH key of a staff account (``veilig staff remove``); how many. The
    file is written anew and renamed over the old one: never half a file."""
    path = home / "ssh" / STAFF_KEYS
    if not path.exists():
        return 0
    kept, gone = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#") and parts[1] == email:
            gone += 1
        else:
            kept.append(line + "\n")
    if gone:
        tmp = path.with_name(f".{STAFF_KEYS}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(kept)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    return gone
