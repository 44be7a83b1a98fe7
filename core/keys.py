"""Keys that wrap other keys. Every key type here has two verbs: ``wrap`` and ``unwrap``.

(Keys are *wrapped*; content and records are *sealed* and *opened*: core.stream,
core.sealing, core.server_secret.) Every wrap takes a ``binding`` from core.labels that
names what the wrapped key belongs to; unwrapping with another binding fails, so a
wrapped key copied onto another row opens nothing. Every failure to unwrap is one
:class:`CannotOpen`, whatever went wrong.

| key | wraps | how |
|---|---|---|
| :class:`MailboxPublicKey` / :class:`MailboxPrivateKey` | content keys, thread keys | HPKE |
| :class:`ThreadKey` | a conversation's content keys | nonce ‖ AES-256-GCM |
| :func:`invitation_key` | the thread key, per notification | nonce ‖ AES-256-GCM |
| :class:`Password` | a staff member's own private key | Argon2id + pepper, AES-256-GCM |
| a staff member's own public key | the mailbox private key, per staff member | HPKE |
| :func:`staff_invitation_key` | the mailbox private key, per invitation | nonce ‖ AES-256-GCM |
| :class:`RecoveryKey` | the mailbox private key, once | HKDF, nonce ‖ AES-256-GCM |

Suite choice: HPKE (RFC 9180) with the hybrid KEM ML-KEM-768 + X25519, HKDF-SHA256 and
AES-256-GCM. Medical records must stay confidential for decades, so ciphertext
recorded today must survive a future quantum computer ("harvest now, decrypt
later"); the hybrid stays as strong as X25519 should ML-KEM ever be broken. The cost
here is 1,168 bytes per wrapped key and ~0.2 ms per unwrap: nothing next to a message.

The mailbox private key never rests in the clear: it is stored wrapped once per staff
member to that person's own key pair (a hybrid key pair like the mailbox's, whose private
half rests under their password with Argon2id and the pepper), per pending invitation
under its two codes, and once under a recovery key shown only at ``veilig init`` (and at
each rotation). Wrapping to a person's public key lets an admin hand a new mailbox key
to everyone without knowing their passwords (core.rotation).
"""

from __future__ import annotations

import base64
import secrets
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import aead, labels
from core.errors import CannotOpen, InvalidInput, KeyDamaged
from core.i18n import _
from core.policy import Argon2Cost

_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_MLKEM_SEED = 64
_X25519_SIZE = 32
_MLKEM_PUBLIC = 1184
PRIVATE_KEY_SIZE = _MLKEM_SEED + _X25519_SIZE


# --- the mailbox key pair (HPKE) ------------------------------------------------------


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

    def wrap(self, secret: bytes, binding: bytes) -> bytes:
        try:
            return _SUITE.encrypt(secret, self._hpke(), info=binding)
        except ValueError:
            # OpenSSL refuses an all-zero or low-order X25519 share (RFC 7748 §6.1):
            # a key someone swapped in the database. Wrap nothing to it.
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

    def derive(self, label: bytes) -> bytes:
        """A 256-bit key for another job, made from this one (HKDF-SHA256, ``label`` from
        core.labels): the search index's, the headings'. Only who holds this key has it."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label)
        return hkdf.derive(self._raw)

    def __repr__(self) -> str:  # never print key material, not even in a traceback
        return "MailboxPrivateKey(<secret>)"

    def unwrap(self, wrapped: bytes, binding: bytes) -> bytes:
        private = hpke.MLKEM768X25519PrivateKey(self._mlkem, self._x25519)
        try:
            return _SUITE.decrypt(wrapped, private, info=binding)
        except (InvalidTag, ValueError):
            raise CannotOpen("key does not unwrap") from None


class RotatingMailboxKey(MailboxPrivateKey):
    """The new mailbox key while a rotation is under way (core.rotation), with the old
    one beside it for what is not re-wrapped yet: unwrapping tries the new key first."""

    def __init__(self, new: MailboxPrivateKey, old: MailboxPrivateKey) -> None:
        super().__init__(new.raw_bytes())
        self.old = old

    def __repr__(self) -> str:
        return "RotatingMailboxKey(<secret>)"

    def unwrap(self, wrapped: bytes, binding: bytes) -> bytes:
        try:
            return super().unwrap(wrapped, binding)
        except CannotOpen:
            return self.old.unwrap(wrapped, binding)

    def settled(self) -> MailboxPrivateKey:
        """The new key alone, once the rotation has finished."""
        return MailboxPrivateKey(self.raw_bytes())


# --- symmetric wrapping keys: thread keys and invitation keys -------------------------


class WrappingKey(bytes):
    """32 bytes that wrap other keys. Bytes that never print themselves (see ContentKey
    in core.stream): a key in a traceback or a log would open what it wraps."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<secret>)"

    __str__ = __repr__

    def wrap(self, secret: bytes, binding: bytes) -> bytes:
        return aead.seal(self, secret, binding)

    def unwrap(self, wrapped: bytes, binding: bytes) -> bytes:
        return aead.open_sealed(self, wrapped, binding, failure="key does not unwrap")


class ThreadKey(WrappingKey):
    """A conversation's thread key: how a person without an account reads it."""


def new_thread_key() -> ThreadKey:
    return ThreadKey(secrets.token_bytes(32))


def invitation_key(reference: bytes, share: bytes, invitation_id: str) -> WrappingKey:
    """The key that unlocks a thread key: both halves are needed. The reference lives
    only in the notification e-mail; the share only in the database, sealed, and is
    released after a verified code. Neither half alone, nor a database copy, opens."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=share, info=labels.invitation(invitation_id)
    )
    return WrappingKey(hkdf.derive(reference))


def staff_invitation_key(
    invitation_code: bytes, handover_code: bytes, pepper: Pepper, invitation_id: str
) -> WrappingKey:
    """The key of a staff invitation's wrap of the mailbox key (core.enrolment): the
    invitation code (in the e-mail only), the hand-over code (given by the admin in
    person or by phone) and the pepper from server.key. Each half has at least 80
    random bits, so no slow KDF is needed; both halves and server.key are needed."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=pepper,
        info=labels.staff_invitation(invitation_id),
    )
    return WrappingKey(
        hkdf.derive(len(invitation_code).to_bytes(2, "big") + invitation_code + handover_code)
    )


# --- a password (Argon2id, with a pepper from the server secret) --------------------------

_PW_FORMAT = struct.Struct(">BIIB16s12s")  # version, iterations, memory KiB, lanes, salt, nonce
# Format 1: the key is Argon2id(password) alone. Everything it needs is in the row, so a
# copy of the database let anyone test guessed passwords offline. Format 2 (written now)
# mixes in a pepper from server.key: HKDF(Argon2id(password), salt=pepper). Format-1
# wraps still open, and are re-wrapped to format 2 at the next log-in (core.login).
PASSWORD_V1, PASSWORD_V2 = 1, 2
# The cost is read from the wrap before the password is checked. Someone who can edit
# the database must not be able to make a log-in allocate terabytes or run for hours:
# costs beyond these (16x the policy's memory, 10x its passes) are refused unread.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_ITERATIONS = 32
_MAX_LANES = 16


class Pepper(bytes):
    """32 bytes derived from server.key (ServerSecret.pepper): never printed."""

    def __repr__(self) -> str:
        return "Pepper(<secret>)"

    __str__ = __repr__


def password_wrap_version(wrapped: bytes) -> int:
    """The format of a password wrap (0 when it is too short to have one)."""
    return wrapped[0] if wrapped else 0


class Password(str):
    """A staff member's password, as a key. The wrap carries its own Argon2id cost and
    nonce in a versioned header (authenticated with the rest), so raising the policy's
    cost later does not lock anyone out of older wraps."""

    def wrap(self, secret: bytes, binding: bytes, cost: Argon2Cost, pepper: Pepper) -> bytes:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        head = _PW_FORMAT.pack(
            PASSWORD_V2, cost.iterations, cost.memory_kib, cost.lanes, salt, nonce
        )
        key = _pepper(self._derive(salt, cost), pepper)
        return head + AESGCM(key).encrypt(nonce, secret, head + binding)

    def unwrap(self, wrapped: bytes, binding: bytes, pepper: Pepper) -> bytes:
        if len(wrapped) < _PW_FORMAT.size:
            raise CannotOpen("malformed key wrap")
        head = wrapped[: _PW_FORMAT.size]
        version, iterations, memory_kib, lanes, salt, nonce = _PW_FORMAT.unpack(head)
        if version not in (PASSWORD_V1, PASSWORD_V2):
            raise CannotOpen("unsupported key wrap")
        if not (
            1 <= iterations <= _MAX_ITERATIONS
            and 1 <= lanes <= _MAX_LANES
            and 8 * lanes <= memory_kib <= _MAX_MEMORY_KIB
        ):
            raise CannotOpen("key wrap cost out of range")
        key = self._derive(salt, Argon2Cost(iterations, memory_kib, lanes))
        if version == PASSWORD_V2:
            key = _pepper(key, pepper)
        try:
            return AESGCM(key).decrypt(nonce, wrapped[_PW_FORMAT.size :], head + binding)
        except InvalidTag:
            raise CannotOpen("wrong password") from None

    def _derive(self, salt: bytes, cost: Argon2Cost) -> bytes:
        return Argon2id(
            salt=salt,
            length=32,
            iterations=cost.iterations,
            lanes=cost.lanes,
            memory_cost=cost.memory_kib,
        ).derive(self.encode("utf-8"))


def _pepper(stretched: bytes, pepper: Pepper) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=pepper, info=labels.PEPPERED_PASSWORD)
    return hkdf.derive(stretched)


def unopenable_password_wrap(cost: Argon2Cost, secret_size: int) -> bytes:
    """The shape of :meth:`Password.wrap`'s result with random contents, made without
    running the KDF: unwrapping it runs Argon2id at ``cost`` and then fails, as a wrong
    password does (the AES-GCM tag of random bytes does not verify)."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    head = _PW_FORMAT.pack(PASSWORD_V2, cost.iterations, cost.memory_kib, cost.lanes, salt, nonce)
    return head + secrets.token_bytes(secret_size + 16)


# --- the recovery key -------------------------------------------------------------------

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Typed from paper: characters base32 does not use are read as the one they look like.
_LOOK_ALIKE = str.maketrans({"0": "O", "1": "I", "8": "B"})
_RECOVERY_CHARS = 52  # 256 bits in base32, without padding


def check_character(text: str) -> str:
    """Luhn mod 32 over the base32 characters: catches every single wrong character and
    every swap of two neighbours (except of a pair of characters 16 apart)."""
    factor, total = 2, 0
    for char in reversed(text):
        addend = factor * _BASE32.index(char)
        total += addend // 32 + addend % 32
        factor = 3 - factor
    return _BASE32[(32 - total % 32) % 32]


class RecoveryKey(str):
    """256 random bits as 13 groups of base32 and a check character, shown once at
    ``veilig init``. Keys shown before the check character existed (13 groups) still work."""

    def wrap(self, secret: bytes, binding: bytes) -> bytes:
        return aead.seal(self._key(), secret, binding)

    def unwrap(self, wrapped: bytes, binding: bytes) -> bytes:
        return aead.open_sealed(self._key(), wrapped, binding, failure="wrong recovery key")

    def _key(self) -> bytes:
        compact = _compact(self)[:_RECOVERY_CHARS]
        padded = compact + "=" * (-len(compact) % 8)
        try:
            raw = base64.b32decode(padded)
        except ValueError:
            raise CannotOpen("malformed recovery key") from None
        # The recovery key already has 256 bits of entropy: HKDF suffices, no slow KDF.
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=labels.RECOVERY)
        return hkdf.derive(raw)


def _compact(typed: str) -> str:
    return "".join(typed.split()).replace("-", "").upper().translate(_LOOK_ALIKE)


def parse_recovery_key(typed: str) -> RecoveryKey:
    """A recovery key as a person types it from paper: spaces, dashes and case do not
    matter, 0/1/8 are read as O/I/B; the check character must fit (a typo is said at
    once, not after a failed unwrap). Without a check character: a key from before it."""
    compact = _compact(typed)
    if any(char not in _BASE32 for char in compact) or len(compact) not in (
        _RECOVERY_CHARS,
        _RECOVERY_CHARS + 1,
    ):
        raise InvalidInput(_("That is not a recovery key: it has 53 letters and digits."))
    if len(compact) > _RECOVERY_CHARS and check_character(compact[:-1]) != compact[-1]:
        raise InvalidInput(_("That recovery key has a typing error. Please check it."))
    return RecoveryKey(compact)


def new_recovery_key() -> RecoveryKey:
    """Typed from paper without ambiguity: base32 has no 0/O or 1/I to confuse, and
    what looks alike is read alike (parse_recovery_key)."""
    text = base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=")
    text += check_character(text)
    return RecoveryKey("-".join(text[i : i + 4] for i in range(0, len(text), 4)))
