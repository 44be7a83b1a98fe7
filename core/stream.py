"""Chunked AEAD streams: the on-disk format of every subject, body and attachment.

The idea is age's STREAM (FiloSottile/age, internal/stream): the plaintext is cut in
64 KiB chunks, each sealed with AES-256-GCM under a nonce made of a chunk counter and
a last-chunk flag. So:

- a flipped byte anywhere fails that chunk's tag;
- reordering fails because the counter is in the nonce;
- truncation at a chunk boundary fails because the new last chunk was sealed without
  the last-chunk flag; appending fails because the real last chunk carries it;
- memory stays at two chunks whatever the size.

Format v1::

    header  = b"VLG" 0x01 || salt(32)                        36 bytes
    chunk_i = AES-256-GCM(item_key, nonce_i, plaintext_i, ad=header)
    nonce_i = counter_i as 11 bytes big-endian || last_flag(1)
    item_key = HKDF-SHA256(content_key, salt, info=b"veilig/v1/stream|" + context)

``context`` names what the stream belongs to (message id and item), so a stream
swapped between messages or between items of one message derives another key and
fails on its first chunk. The random salt makes every item key unique even when a
content key were ever reused.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import CannotOpen


class ContentKey(bytes):
    """A message's 256-bit content key. Bytes that never print themselves: a key that
    reached a traceback (a local variable, a tuple in a list) or a log would open the
    message. Not a NewType for that reason alone."""

    def __repr__(self) -> str:
        return "ContentKey(<secret>)"

    __str__ = __repr__


MAGIC = b"VLG"
VERSION = 1
SALT_SIZE = 32
HEADER_SIZE = len(MAGIC) + 1 + SALT_SIZE
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
_COUNTER_LIMIT = 2 ** (8 * 11) - 1

Progress = Callable[[int], None]


def new_content_key() -> ContentKey:
    return ContentKey(secrets.token_bytes(32))


def _item_key(content_key: ContentKey, salt: bytes, context: bytes) -> AESGCM:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"veilig/v1/stream|" + context
    )
    return AESGCM(hkdf.derive(content_key))


def _nonce(counter: int, last: bool) -> bytes:
    if counter > _COUNTER_LIMIT:  # 2^88 chunks: unreachable, but never wrap a nonce
        raise OverflowError("stream too long")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _read_full(source: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``source``; fewer bytes only at end of stream."""
    filled = 0
    while filled < len(view):
        n = source.readinto(view[filled:])  # type: ignore[attr-defined]
        if not n:
            break
        filled += n
    return filled


def sealed_size(plaintext_size: int) -> int:
    chunks = max(1, -(-plaintext_size // CHUNK_SIZE))
    return HEADER_SIZE + plaintext_size + chunks * TAG_SIZE


def seal_stream(
    content_key: ContentKey,
    context: bytes,
    source: BinaryIO,
    sink: BinaryIO,
    progress: Progress | None = None,
    *,
    salt: bytes | None = None,
) -> int:
    """Seal everything ``source`` yields into ``sink``. Returns the plaintext size.

    ``salt`` is for known-answer tests only; in use it is always fresh and random.
    """
    salt = salt if salt is not None else secrets.token_bytes(SALT_SIZE)
    if len(salt) != SALT_SIZE:
        raise ValueError("salt must be 32 bytes")
    header = MAGIC + bytes([VERSION]) + salt
    aead = _item_key(content_key, salt, context)
    sink.write(header)

    # Two plaintext buffers: we must read one chunk ahead to know which chunk is last.
    # Reusing them (readinto/encrypt_into) avoids fresh allocations per chunk.
    current, upcoming = bytearray(CHUNK_SIZE), bytearray(CHUNK_SIZE)
    out = bytearray(SEALED_CHUNK_SIZE)
    current_len = _read_full(source, memoryview(current))
    counter = total = 0
    while True:
        upcoming_len = _read_full(source, memoryview(upcoming)) if current_len == CHUNK_SIZE else 0
        last = upcoming_len == 0
        plain = memoryview(current)[:current_len]
        sealed = memoryview(out)[: current_len + TAG_SIZE]  # encrypt_into wants the exact size
        aead.encrypt_into(_nonce(counter, last), plain, header, sealed)
        sink.write(sealed)
        total += current_len
        if progress:
            progress(total)
        if last:
            return total
        counter += 1
        current, upcoming = upcoming, current
        current_len = upcoming_len


def open_stream(
    content_key: ContentKey,
    context: bytes,
    source: BinaryIO,
    sink: BinaryIO,
    progress: Progress | None = None,
) -> int:
    """Verify and decrypt ``source`` into ``sink``. Returns the plaintext size.

    Chunks reach ``sink`` as they are verified; only a normal return means the whole
    stream was intact. Callers that write files keep them aside until then.
    """
    header = source.read(HEADER_SIZE)
    if len(header) != HEADER_SIZE or header[: len(MAGIC)] != MAGIC:
        raise CannotOpen("not a veilig stream")
    if header[len(MAGIC)] != VERSION:
        raise CannotOpen("unsupported stream version")
    aead = _item_key(content_key, header[len(MAGIC) + 1 :], context)

    current, upcoming = bytearray(SEALED_CHUNK_SIZE), bytearray(SEALED_CHUNK_SIZE)
    out = bytearray(CHUNK_SIZE)
    current_len = _read_full(source, memoryview(current))
    counter = total = 0
    while True:
        if current_len < TAG_SIZE:
            raise CannotOpen("stream truncated")
        if current_len == SEALED_CHUNK_SIZE:
            upcoming_len = _read_full(source, memoryview(upcoming))
        else:
            upcoming_len = 0
        last = upcoming_len == 0
        if last and current_len == TAG_SIZE and counter > 0:
            # Only an entirely empty stream may end in an empty chunk (as in age):
            # otherwise there would be two encodings of the same plaintext.
            raise CannotOpen("empty last chunk")
        n = current_len - TAG_SIZE
        plain = memoryview(out)[:n]  # decrypt_into wants the exact size
        try:
            aead.decrypt_into(
                _nonce(counter, last), memoryview(current)[:current_len], header, plain
            )
        except InvalidTag:
            raise CannotOpen("stream altered, truncated or not for this item") from None
        sink.write(plain)
        total += n
        if progress:
            progress(total)
        if last:
            return total
        counter += 1
        current, upcoming = upcoming, current
        current_len = upcoming_len


def seal_bytes(content_key: ContentKey, context: bytes, data: bytes) -> bytes:
    sink = io.BytesIO()
    seal_stream(content_key, context, io.BytesIO(data), sink)
    return sink.getvalue()


def open_bytes(content_key: ContentKey, context: bytes, sealed: bytes) -> bytes:
    sink = io.BytesIO()
    open_stream(content_key, context, io.BytesIO(sealed), sink)
    return sink.getvalue()
