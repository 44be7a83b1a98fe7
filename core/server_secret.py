"""The server secret: a random key in a file under ``VEILIG_HOME``, never in the database.

It keys the hashes of one-time codes and destinations, seals what must rest in the
database but is secret for a while (queued e-mails with codes, TOTP secrets, contact
details, server shares), pins what the database holds in the clear but nobody may
change (the mailbox public key, where a message came from: core.pins) and peppers the
password wraps. So a copy of the database alone yields neither codes to replay nor, by
brute force over a 6-digit space, the codes behind the tags, nor a way to test guessed
staff passwords; and someone who can only write the database cannot swap a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import aead, labels
from core.keys import Pepper

FILE_NAME = "server.key"


def _derive(root: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(root)


class ServerSecret:
    def __init__(self, root: bytes) -> None:
        if len(root) != 32:
            raise ValueError("server secret must be 32 bytes")
        self._tag_key = _derive(root, labels.TAGS)
        self._seal_key = _derive(root, labels.AT_REST)
        self._pepper = Pepper(_derive(root, labels.PEPPER))

    def __repr__(self) -> str:
        return "ServerSecret(<secret>)"

    @classmethod
    def create(cls, home: Path) -> ServerSecret:
        root = secrets.token_bytes(32)
        path = home / FILE_NAME
        # O_EXCL: never overwrite an existing secret (that would orphan every sealed row).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(root)
            f.flush()
            os.fsync(f.fileno())
        return cls(root)

    @classmethod
    def load(cls, home: Path) -> ServerSecret:
        return cls((home / FILE_NAME).read_bytes())

    def tag(self, *parts: str) -> bytes:
        """A keyed hash of ``parts``: unambiguous (length-prefixed) and one-way."""
        mac = hmac.new(self._tag_key, digestmod=hashlib.sha256)
        for part in parts:
            raw = part.encode("utf-8")
            mac.update(len(raw).to_bytes(4, "big"))
            mac.update(raw)
        return mac.digest()

    def seal(self, plaintext: bytes, binding: bytes) -> bytes:
        """``binding`` (from core.labels) names the row the record belongs to."""
        return aead.seal(self._seal_key, plaintext, binding)

    def pepper(self) -> Pepper:
        """What password wraps of format 2 mix into their key (core.keys.Password): the
        database holds the wraps, this file the pepper, so a copy of the database alone
        does not let anyone test guessed passwords against a wrap."""
        return self._pepper

    def open(self, sealed: bytes, binding: bytes) -> bytes:
        return aead.open_sealed(
            self._seal_key, sealed, binding, failure="sealed record altered or moved"
        )
