"""Mailbox keys: who can unwrap a message's content key.

Suite choice: HPKE (RFC 9180) with the hybrid KEM ML-KEM-768 + X25519, HKDF-SHA256 and
AES-256-GCM. Medical records must stay confidential for decades, so ciphertext
recorded today must survive a future quantum computer ("harvest now, decrypt
later"); the hybrid stays as strong as X25519 should ML-KEM ever be broken. The cost
here is 1,168 bytes per wrapped key and ~0.2 ms per unwrap: nothing next to a message.

The mailbox private key never rests in the clear: it is stored wrapped once per staff
member under a key derived from that person's password with Argon2id, and once under
a recovery key shown only at ``veilig init``.
"""

from __future__ import annotations

import base64
import secrets
import struct
from dataclasses import dataclass
from typing import NewType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import CannotOpen, KeyDamaged
from core.policy import Argon2Cost
from core.stream import ContentKey

Password = NewType("Password", str)
RecoveryKey = NewType("RecoveryKey", str)

_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_MLKEM_SEED = 64
_X25519_SIZE = 32
_MLKEM_PUBLIC = 1184
PRIVATE_KEY_SIZE = _MLKEM_SEED + _X25519_SIZE


@dataclass(frozen=True)
class MailboxPublicKey:
    raw: bytes  # ML-KEM-768 public key (1184) || X25519 public key (32)

    def _hpke(self) -> hpke.MLKEM768X25519PublicKey:
        if len(self.raw) != _MLKEM_PUBLIC + _X25519_SIZE:
            raise KeyDamaged("malformed mailbox public key")
        try:
            return hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:_MLKEM_PUBLIC]),
                x25519.X25519PublicKey.from_public_bytes(self.raw[_MLKEM_PUBLIC:]),
            )
        except ValueError:
            raise KeyDamaged("malformed mailbox public key") from None

    def seal(self, secret: bytes, info: bytes) -> bytes:
        try:
            return _SUITE.encrypt(secret, self._hpke(), info=info)
        except ValueError:
            # OpenSSL refuses an all-zero or low-order X25519 share (RFC 7748 §6.1):
            # a key someone swapped in the database. Seal nothing to it.
            raise KeyDamaged("mailbox public key refused") from None


class MailboxPrivateKey:
    """The unlocked mailbox key. Lives in memory for one staff session only."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != PRIVATE_KEY_SIZE:
            raise CannotOpen("malformed mailbox key")
        self._raw = raw
        self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:_MLKEM_SEED])
        self._x25519 = x25519.X25519PrivateKey.from_private_bytes(raw[_MLKEM_SEED:])

    @classmethod
    def generate(cls) -> MailboxPrivateKey:
        return cls(secrets.token_bytes(_MLKEM_SEED) + secrets.token_bytes(_X25519_SIZE))

    def public_key(self) -> MailboxPublicKey:
        return MailboxPublicKey(
            self._mlkem.public_key().public_bytes_raw()
            + self._x25519.public_key().public_bytes_raw()
        )

    def raw_bytes(self) -> bytes:
        return self._raw

    def __repr__(self) -> str:  # never print key material, not even in a traceback
        return "MailboxPrivateKey(<secret>)"

    def _hpke(self) -> hpke.MLKEM768X25519PrivateKey:
        return hpke.MLKEM768X25519PrivateKey(self._mlkem, self._x25519)


def _wrap_info(message_id: str) -> bytes:
    # Binds the wrapped key to its message: a wrapped key copied onto another
    # message row does not unwrap there.
    return b"veilig/v1/content-key|" + message_id.encode()


def wrap_content_key(public: MailboxPublicKey, key: ContentKey, message_id: str) -> bytes:
    return public.seal(key, _wrap_info(message_id))


def unwrap_content_key(private: MailboxPrivateKey, wrapped: bytes, message_id: str) -> ContentKey:
    try:
        return ContentKey(_SUITE.decrypt(wrapped, private._hpke(), info=_wrap_info(message_id)))
    except (InvalidTag, ValueError):
        raise CannotOpen("content key does not unwrap") from None


# --- wrapping a secret under a password (Argon2id) or a recovery key ---------------

_PW_FORMAT = struct.Struct(">BIIB16s12s")  # version, iterations, memory KiB, lanes, salt, nonce
# The cost is read from the wrap before the password is checked. Someone who can edit
# the database must not be able to make a log-in allocate terabytes or run for hours:
# costs beyond these (16x the policy's memory, 10x its passes) are refused unread.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_ITERATIONS = 32
_MAX_LANES = 16


def wrap_with_password(
    secret: bytes, password: Password, cost: Argon2Cost, binding: bytes
) -> bytes:
    """Seal ``secret`` under Argon2id(password). The cost travels with the result,
    so raising the policy later does not lock anyone out of older wraps."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _argon2(password, salt, cost)
    head = _PW_FORMAT.pack(1, cost.iterations, cost.memory_kib, cost.lanes, salt, nonce)
    return head + AESGCM(key).encrypt(nonce, secret, head + binding)


def unopenable_password_wrap(cost: Argon2Cost, secret_size: int) -> bytes:
    """The shape of ``wrap_with_password``'s result with random contents, made without
    running the KDF: unwrapping it runs Argon2id at ``cost`` and then fails, as a wrong
    password does (the AES-GCM tag of random bytes does not verify)."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    head = _PW_FORMAT.pack(1, cost.iterations, cost.memory_kib, cost.lanes, salt, nonce)
    return head + secrets.token_bytes(secret_size + 16)


def unwrap_with_password(wrapped: bytes, password: Password, binding: bytes) -> bytes:
    if len(wrapped) < _PW_FORMAT.size:
        raise CannotOpen("malformed key wrap")
    head = wrapped[: _PW_FORMAT.size]
    version, iterations, memory_kib, lanes, salt, nonce = _PW_FORMAT.unpack(head)
    if version != 1:
        raise CannotOpen("unsupported key wrap")
    if not (
        1 <= iterations <= _MAX_ITERATIONS
        and 1 <= lanes <= _MAX_LANES
        and 8 * lanes <= memory_kib <= _MAX_MEMORY_KIB
    ):
        raise CannotOpen("key wrap cost out of range")
    key = _argon2(password, salt, Argon2Cost(iterations, memory_kib, lanes))
    try:
        return AESGCM(key).decrypt(nonce, wrapped[_PW_FORMAT.size :], head + binding)
    except InvalidTag:
        raise CannotOpen("wrong password") from None


def _argon2(password: Password, salt: bytes, cost: Argon2Cost) -> bytes:
    return Argon2id(
        salt=salt,
        length=32,
        iterations=cost.iterations,
        lanes=cost.lanes,
        memory_cost=cost.memory_kib,
    ).derive(password.encode("utf-8"))


def new_recovery_key() -> RecoveryKey:
    """256 random bits as 13 groups of base32: typed from paper without ambiguity."""
    text = base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=")
    return RecoveryKey("-".join(text[i : i + 4] for i in range(0, len(text), 4)))


def _recovery_aead(recovery: RecoveryKey) -> AESGCM:
    compact = recovery.replace("-", "").replace(" ", "").upper()
    padded = compact + "=" * (-len(compact) % 8)
    try:
        raw = base64.b32decode(padded)
    except ValueError:
        raise CannotOpen("malformed recovery key") from None
    # The recovery key already has 256 bits of entropy: HKDF suffices, no slow KDF.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"veilig/v1/recovery")
    return AESGCM(hkdf.derive(raw))


def wrap_with_recovery_key(secret: bytes, recovery: RecoveryKey, binding: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + _recovery_aead(recovery).encrypt(nonce, secret, binding)


def unwrap_with_recovery_key(wrapped: bytes, recovery: RecoveryKey, binding: bytes) -> bytes:
    try:
        return _recovery_aead(recovery).decrypt(wrapped[:12], wrapped[12:], binding)
    except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
        raise CannotOpen("wrong recovery key") from None


# --- thread keys: how a person without an account reads a conversation --------------


class ThreadKey(bytes):
    """A conversation's thread key: bytes that never print themselves (see ContentKey)."""

    def __repr__(self) -> str:
        return "ThreadKey(<secret>)"

    __str__ = __repr__


def new_thread_key() -> ThreadKey:
    return ThreadKey(secrets.token_bytes(32))


def invitation_key(reference: bytes, share: bytes, invitation_id: str) -> AESGCM:
    """The key that unlocks a thread key: both halves are needed. The reference lives
    only in the notification e-mail; the share only in the database, sealed, and is
    released after a verified code. Neither half alone, nor a database copy, opens."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=share,
        info=b"veilig/v1/invitation|" + invitation_id.encode(),
    )
    return AESGCM(hkdf.derive(reference))


def seal_thread_key(key: ThreadKey, reference: bytes, share: bytes, invitation_id: str) -> bytes:
    nonce = secrets.token_bytes(12)
    aead = invitation_key(reference, share, invitation_id)
    return nonce + aead.encrypt(nonce, key, invitation_id.encode())


def open_thread_key(
    wrapped: bytes, reference: bytes, share: bytes, invitation_id: str
) -> ThreadKey:
    try:
        aead = invitation_key(reference, share, invitation_id)
        return ThreadKey(aead.decrypt(wrapped[:12], wrapped[12:], invitation_id.encode()))
    except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
        raise CannotOpen("thread key does not unwrap") from None


def _thread_info(participant_id: str) -> bytes:
    return b"veilig/v1/thread-key|" + participant_id.encode()


def wrap_thread_key_to_mailbox(
    public: MailboxPublicKey, key: ThreadKey, participant_id: str
) -> bytes:
    return public.seal(key, _thread_info(participant_id))


def unwrap_thread_key(private: MailboxPrivateKey, wrapped: bytes, participant_id: str) -> ThreadKey:
    try:
        return ThreadKey(
            _SUITE.decrypt(wrapped, private._hpke(), info=_thread_info(participant_id))
        )
    except (InvalidTag, ValueError):
        raise CannotOpen("thread key does not unwrap") from None


def wrap_for_thread(key: ThreadKey, content_key: ContentKey, message_id: str) -> bytes:
    nonce = secrets.token_bytes(12)
    binding = b"veilig/v1/thread-content|" + message_id.encode()
    return nonce + AESGCM(key).encrypt(nonce, content_key, binding)


def unwrap_for_thread(key: ThreadKey, wrapped: bytes, message_id: str) -> ContentKey:
    binding = b"veilig/v1/thread-content|" + message_id.encode()
    try:
        return ContentKey(AESGCM(key).decrypt(wrapped[:12], wrapped[12:], binding))
    except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
        raise CannotOpen("content key does not unwrap") from None
