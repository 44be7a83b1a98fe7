"""Chunked AEAD streams: the on-disk format of every subject, body and attachment.

The idea is age's STREAM (FiloSottile/age, internal/stream): the plaintext is cut in
64 KiB chunks, each sealed with AES-256-GCM under a nonce made of a chunk counter and
a last-chunk flag. So:

- a flipped byte anywhere fails that chunk's tag;
- reordering fails because the counter is in the nonce;
- truncation at a chunk boundary fails because the new last chunk was sealed without
  the last-chunk flag; appending fails because the real last chunk carries it;
- memory stays at a few chunks whatever the size.

``seal_stream``/``open_stream`` do the work in the calling thread (subjects, bodies,
metas); ``core.pipeline`` seals and opens files with reading, AES-GCM and writing on
separate threads. Both cut and seal chunks with ``ChunkSealer``/``ChunkOpener`` below,
so there is one implementation of the format.

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
from collections.abc import Callable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import labels
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
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=labels.stream(context))
    return AESGCM(hkdf.derive(content_key))


def _nonce(counter: int, last: bool) -> bytes:
    if counter > _COUNTER_LIMIT:  # 2^88 chunks: unreachable, but never wrap a nonce
        raise OverflowError("stream too long")
    # counter as 11 bytes big-endian || last flag, in one conversion
    return ((counter << 8) | last).to_bytes(12, "big")


class ChunkSealer:
    """Seals one stream chunk by chunk: the header first, then chunk ``counter`` = 0, 1, …
    with ``last`` set on the final one only. The caller cuts the chunks (all of
    ``CHUNK_SIZE`` but the last, which may be shorter, or empty for an empty stream)."""

    def __init__(self, content_key: ContentKey, context: bytes, salt: bytes | None = None):
        # ``salt`` is for known-answer tests only; in use it is always fresh and random.
        salt = salt if salt is not None else secrets.token_bytes(SALT_SIZE)
        if len(salt) != SALT_SIZE:
            raise ValueError("salt must be 32 bytes")
        self.header = MAGIC + bytes([VERSION]) + salt
        self._encrypt_into = _item_key(content_key, salt, context).encrypt_into

    def seal_chunk(self, counter: int, plain: memoryview, last: bool, out: memoryview) -> int:
        """Seal ``plain`` into the start of ``out``; returns the sealed size (+16)."""
        n = len(plain) + TAG_SIZE
        sealed = out if len(out) == n else out[:n]  # encrypt_into wants the exact size
        self._encrypt_into(_nonce(counter, last), plain, self.header, sealed)
        return n


class ChunkOpener:
    """Verifies and decrypts one stream chunk by chunk, after its header."""

    def __init__(self, content_key: ContentKey, context: bytes, header: bytes) -> None:
        if len(header) != HEADER_SIZE or header[: len(MAGIC)] != MAGIC:
            raise CannotOpen("not a veilig stream")
        if header[len(MAGIC)] != VERSION:
            raise CannotOpen("unsupported stream version")
        self.header = bytes(header)
        self._decrypt_into = _item_key(
            content_key, self.header[len(MAGIC) + 1 :], context
        ).decrypt_into

    def open_chunk(self, counter: int, sealed: memoryview, last: bool, out: memoryview) -> int:
        """Verify ``sealed`` and decrypt it into the start of ``out``; returns the
        plaintext size. Raises CannotOpen for any chunk that is not chunk ``counter``
        of this stream, with this ``last`` flag, unaltered."""
        if len(sealed) < TAG_SIZE:
            raise CannotOpen("stream truncated")
        if last and len(sealed) == TAG_SIZE and counter > 0:
            # Only an entirely empty stream may end in an empty chunk (as in age):
            # otherwise there would be two encodings of the same plaintext.
            raise CannotOpen("empty last chunk")
        n = len(sealed) - TAG_SIZE
        plain = out if len(out) == n else out[:n]  # decrypt_into wants the exact size
        try:
            self._decrypt_into(_nonce(counter, last), sealed, self.header, plain)
        except InvalidTag:
            raise CannotOpen("stream altered, truncated or not for this item") from None
        return n


def read_full(source: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``source``; fewer bytes only at end of stream."""
    filled = 0
    while filled < len(view):
        n = source.readinto(view[filled:])  # type: ignore[attr-defined]
        if not n:
            break
        filled += n
    return filled


def _in_memory(source: BinaryIO) -> memoryview | None:
    """The unread bytes of an in-memory ``source`` (a ``BytesIO``), without copying
    them, and ``source`` left at its end as if read; ``None`` for any other source.
    Subjects, bodies and metas are sealed and opened from memory: their chunks are then
    encrypted where they lie instead of being copied into a buffer first."""
    if type(source) is not io.BytesIO:
        return None
    position = source.tell()
    data = source.getvalue()  # the BytesIO's own bytes object: shared, not copied
    source.seek(0, io.SEEK_END)
    return memoryview(data)[position:]


def _chunks(source: BinaryIO, size: int) -> Iterator[tuple[memoryview, bool]]:
    """``source`` in chunks of ``size`` bytes (the last one shorter, or empty when the
    source is), each with whether it is the last. A chunk from a stream is valid until
    the next one is taken: two buffers are reused, one read ahead to know the last."""
    data = _in_memory(source)
    if data is not None:
        end = len(data)
        if end == 0:
            yield data, True
        for start in range(0, end, size):
            yield data[start : start + size], start + size >= end
        return
    current, upcoming = memoryview(bytearray(size)), memoryview(bytearray(size))
    current_len = read_full(source, current)
    while True:
        upcoming_len = read_full(source, upcoming) if current_len == size else 0
        last = upcoming_len == 0
        yield (current if current_len == size else current[:current_len]), last
        if last:
            return
        current, upcoming = upcoming, current
        current_len = upcoming_len


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
    sealer = ChunkSealer(content_key, context, salt)
    sink.write(sealer.header)
    # One output buffer, reused; the chunk sealed into its start.
    out = memoryview(bytearray(SEALED_CHUNK_SIZE))
    seal_chunk, write = sealer.seal_chunk, sink.write
    counter = total = 0
    for plain, last in _chunks(source, CHUNK_SIZE):
        n = seal_chunk(counter, plain, last, out)
        write(out if n == SEALED_CHUNK_SIZE else out[:n])
        total += len(plain)
        if progress:
            progress(total)
        counter += 1
    return total


def read_header(source: BinaryIO) -> bytes:
    """The header of the stream ``source`` starts with (checked by ``ChunkOpener``)."""
    return source.read(HEADER_SIZE)


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
    opener = ChunkOpener(content_key, context, read_header(source))
    out = memoryview(bytearray(CHUNK_SIZE))
    open_chunk, write = opener.open_chunk, sink.write
    counter = total = 0
    for sealed, last in _chunks(source, SEALED_CHUNK_SIZE):
        n = open_chunk(counter, sealed, last, out)
        write(out if n == CHUNK_SIZE else out[:n])
        total += n
        if progress:
            progress(total)
        counter += 1
    return total


def seal_bytes(content_key: ContentKey, context: bytes, data: bytes) -> bytes:
    sink = io.BytesIO()
    seal_stream(content_key, context, io.BytesIO(data), sink)
    return sink.getvalue()


def open_bytes(content_key: ContentKey, context: bytes, sealed: bytes) -> bytes:
    sink = io.BytesIO()
    open_stream(content_key, context, io.BytesIO(sealed), sink)
    return sink.getvalue()
