"""The one small AEAD construction: ``nonce(12) ‖ AES-256-GCM(key, nonce, secret, ad)``.

For values of a few hundred bytes at most: wrapped keys (core.keys) and records sealed
with the server secret (core.server_secret). Streams have their own nonce scheme
(core.stream) and password wraps carry their nonce in a versioned header (core.keys).

A random 96-bit nonce per seal is safe for the number of seals one key sees here: far
below the 2^32 that NIST SP 800-38D §8.3 allows for random nonces.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import CannotOpen

NONCE_SIZE = 12


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_SIZE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes, *, failure: str) -> bytes:
    """The plaintext, or :class:`CannotOpen` with ``failure`` for every kind of wrong:
    altered, moved to another row (other associated data), the wrong key, too short."""
    try:
        aead = AESGCM(key)
        return aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], associated_data)
    except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce, or a bad key
        raise CannotOpen(failure) from None
