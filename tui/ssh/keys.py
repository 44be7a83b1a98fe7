"""What ``veilig serve ssh`` keeps in ``VEILIG_HOME/ssh/`` (0700): the server's host key,
the staff members' SSH keys, and the route people type to reach the server.

Staff keys are a small file of ``SHA256:fingerprint email`` lines, written only by
``veilig staff add-key`` and ``veilig staff keys --remove`` (and, when an account is
removed, by :func:`remove_keys_of`): a person is recognised by the key they prove to
hold, never by the user name their client claims. The key only chooses the account,
and only while that account exists (the server checks it at every log-in); the desk
still asks for password and TOTP, so a stolen laptop key alone opens nothing.

The public route (``public_route``: ``HOST:PORT``) is written by a server started with
``--public-host`` and removed when it stops: every veilig process on this home then
names ``ssh -p PORT guest@HOST`` in its e-mails (``core.config``, ``VEILIG_PUBLIC_SSH``
overrides it).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncssh

from core.config import PUBLIC_ROUTE_FILE
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


def _parse(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            found[parts[0]] = parts[1]
    return found


def staff_keys(home: Path) -> dict[str, str]:
    """Fingerprint → staff e-mail."""
    path = home / "ssh" / STAFF_KEYS
    if not path.exists():
        return {}
    return _parse(path.read_text(encoding="utf-8"))


@contextmanager
def _editing(home: Path) -> Iterator[dict[str, str]]:
    """The registered keys, to change in place; written back whole (a new file, renamed
    over the old one) under a lock, so that two commands at once lose nothing and a
    crash leaves the old file or the new one."""
    folder = ssh_dir(home)
    lock = os.open(folder / (STAFF_KEYS + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        keys = staff_keys(home)
        before = dict(keys)
        yield keys
        if keys != before:
            tmp = folder / f".{STAFF_KEYS}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.writelines(f"{fingerprint} {email}\n" for fingerprint, email in keys.items())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, folder / STAFF_KEYS)
    finally:
        os.close(lock)


def add_staff_key(home: Path, email: str, public_key_text: str) -> str:
    """Register a key to a staff account; returns its fingerprint. One key, one account."""
    fingerprint = fingerprint_of(public_key_text)
    with _editing(home) as keys:
        if fingerprint in keys and keys[fingerprint] != email:
            raise InvalidInput(
                _("This key already belongs to {email}.").format(email=keys[fingerprint])
            )
        keys[fingerprint] = email
    return fingerprint


def remove_staff_key(home: Path, fingerprint: str) -> str | None:
    """Forget one key; returns the account it opened, or None if it was not registered."""
    with _editing(home) as keys:
        return keys.pop(fingerprint.strip(), None)


def remove_keys_of(home: Path, email: str) -> list[str]:
    """Forget every key of the account ``email`` (call it when the account is removed);
    returns their fingerprints. The server refuses such keys anyway, from the moment the
    account is gone: this keeps the file true."""
    email = email.strip().casefold()
    with _editing(home) as keys:
        gone = [fingerprint for fingerprint, owner in keys.items() if owner == email]
        for fingerprint in gone:
            del keys[fingerprint]
    return gone


def staff_keys_listed(
    home: Path, account_exists: Callable[[str], bool]
) -> list[tuple[str, str, bool]]:
    """(fingerprint, account, whether that account exists) for each registered key,
    by account."""
    return sorted(
        ((fp, email, account_exists(email)) for fp, email in staff_keys(home).items()),
        key=lambda row: (row[1], row[0]),
    )


# --- the route people type ----------------------------------------------------------


def record_public_route(home: Path, host: str, port: int) -> None:
    path = ssh_dir(home) / PUBLIC_ROUTE_FILE.name
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"{host}:{port}\n")
    os.replace(tmp, path)


def forget_public_route(home: Path, host: str, port: int) -> None:
    """Remove the route, if it is still this server's (another may have written since)."""
    path = home / PUBLIC_ROUTE_FILE
    try:
        if path.read_text(encoding="utf-8").strip() == f"{host}:{port}":
            path.unlink()
    except FileNotFoundError:
        pass
