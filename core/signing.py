"""The organisation's signing key: Ed25519 signatures anyone can check offline.

What it signs: every audit export (core.audit_export), the audit chain's head once a
day (core.retention's daily run), every proof of delivery (core.proof) and the manifest
of a data-subject export (core.subject_export). A signature is *detached*: the signed
file stays as it is (a CSV opens in a spreadsheet) and ``FILE.sig`` beside it holds the
64 raw bytes, so that ``openssl pkeyutl -verify -rawin`` and ten lines of Python check
it with the public key alone (README, *For your auditor and DPO*).

Where the private key lives, and why: it is derived from ``server.key`` (HKDF with its
own label, core.labels.ORG_SIGNING) and never stored. The key must sign unattended —
the daily head, an export or a proof asked for at the host's shell — so it needs what
the outbox worker has and nothing more. A key file of its own beside ``server.key``
would be one more file to back up and lose, and no boundary: whoever reads one reads
the other. Wrapping it to the mailbox key (staff's passwords) would stop the daily
signature, which runs when nobody is logged in. Derived, the public key stays the same
for as long as the home does: restored from a backup, the office's published key still
verifies everything it signed.

What a signature proves, and what not: that the holder of this office's ``server.key``
made the file, and that nothing in it changed since. It does not stop that holder from
signing a false file later; what it does is fix what was already given away: an export
or a signed head held by an auditor cannot be quietly replaced (docs/SECURITY.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from core.errors import InvalidInput
from core.i18n import _
from core.server_secret import ServerSecret

SIGNATURE_SUFFIX = ".sig"
SIGNATURE_SIZE = 64
_RAW_SIZE = 32


@dataclass(frozen=True)
class PublicKey:
    """The organisation's public key: publish it (website, letterhead, the DPO)."""

    raw: bytes

    @property
    def fingerprint(self) -> str:
        """``SHA256:…``, as OpenSSH writes key fingerprints: short enough to read aloud."""
        digest = base64.b64encode(hashlib.sha256(self.raw).digest()).decode().rstrip("=")
        return "SHA256:" + digest

    @property
    def text(self) -> str:
        """The key in one line (base64 of the 32 raw bytes), for ``--key``."""
        return base64.b64encode(self.raw).decode()

    def pem(self) -> str:
        """SubjectPublicKeyInfo PEM, what ``openssl pkeyutl -pubin -inkey`` reads."""
        key = Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """A key as people pass it: PEM (a file's content), base64 or hex of the raw key."""
        text = text.strip()
        if text.startswith("-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(text.encode())
            except ValueError:
                raise InvalidInput(_("That is not a public key.")) from None
            if not isinstance(key, Ed25519PublicKey):
                raise InvalidInput(_("That is not an Ed25519 public key."))
            return cls(key.public_bytes_raw())
        try:
            raw = bytes.fromhex(text) if len(text) == 2 * _RAW_SIZE else base64.b64decode(text)
        except (ValueError, binascii.Error):
            raw = b""
        if len(raw) != _RAW_SIZE:
            raise InvalidInput(_("That is not a public key."))
        return cls(raw)


class SigningKey:
    """The private half, for this process only: never in a repr, never stored."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)

    @classmethod
    def of(cls, secret: ServerSecret) -> SigningKey:
        return cls(secret.signing_seed())

    def __repr__(self) -> str:
        return "SigningKey(<secret>)"

    def public_key(self) -> PublicKey:
        return PublicKey(self._key.public_key().public_bytes_raw())

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def write_signed(self, path: Path, data: bytes) -> Path:
        """Write ``data`` to ``path`` and its signature to ``path.sig``; never over an
        existing file (evidence is not replaced). Returns the signature's path."""
        signature_path = path.with_name(path.name + SIGNATURE_SUFFIX)
        for target, content in ((path, data), (signature_path, self.sign(data))):
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                raise InvalidInput(
                    _("{path} exists already: choose another name.").format(path=target)
                ) from None
            with os.fdopen(fd, "wb") as f:
                f.write(content)
        return signature_path


def signature_of(path: Path) -> bytes:
    """The detached signature of ``path`` (``path.sig``), or InvalidInput saying why not."""
    signature_path = path.with_name(path.name + SIGNATURE_SUFFIX)
    try:
        signature = signature_path.read_bytes()
    except OSError:
        raise InvalidInput(
            _("No signature next to it: {path} is missing.").format(path=signature_path)
        ) from None
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidInput(
            _("{path} is not a signature (it should be 64 bytes).").format(path=signature_path)
        )
    return signature
