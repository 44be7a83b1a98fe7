"""The chunked AEAD stream: round trips, a known-answer vector, and every kind of tampering."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import CannotOpen
from core.stream import (
    CHUNK_SIZE,
    HEADER_SIZE,
    SEALED_CHUNK_SIZE,
    ContentKey,
    new_content_key,
    open_bytes,
    seal_bytes,
    seal_stream,
    sealed_size,
)

KEY = ContentKey(bytes(range(32)))
CTX = b"message-1|attachment|0"


def chunks_of(sealed: bytes) -> tuple[bytes, list[bytes]]:
    body = sealed[HEADER_SIZE:]
    return sealed[:HEADER_SIZE], [
        body[i : i + SEALED_CHUNK_SIZE] for i in range(0, len(body), SEALED_CHUNK_SIZE)
    ]


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    data = os.urandom(size)
    sealed = seal_bytes(KEY, CTX, data)
    assert len(sealed) == sealed_size(size)
    assert open_bytes(KEY, CTX, sealed) == data


@given(st.binary(max_size=3 * CHUNK_SIZE + 7))
@settings(max_examples=25, deadline=None)
def test_round_trip_any_bytes(data: bytes) -> None:
    assert open_bytes(KEY, CTX, seal_bytes(KEY, CTX, data)) == data


def test_known_answer_vector() -> None:
    """The format is fixed: a change here breaks every stored message. Update with care."""
    sink = io.BytesIO()
    plaintext = b"veilig" * 20_000  # 120,000 bytes: one full chunk and a partial last one
    seal_stream(KEY, CTX, io.BytesIO(plaintext), sink, salt=bytes(32))
    sealed = sink.getvalue()
    assert sealed[:4] == b"VLG\x01"
    assert len(sealed) == HEADER_SIZE + len(plaintext) + 2 * 16
    assert sealed == spec_seal(KEY, CTX, plaintext, salt=bytes(32))
    assert hashlib.sha256(sealed).hexdigest() == KNOWN_DIGEST


KNOWN_DIGEST = "1bbaad3f27ab6cd2f30183f6bd21b41f055fec6a182cb970bfa826a1898ebb09"


def spec_seal(key: bytes, context: bytes, plaintext: bytes, salt: bytes) -> bytes:
    """The format as the module docstring specifies it, written independently of it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    header = b"VLG\x01" + salt
    item_key = HKDF(hashes.SHA256(), 32, salt, b"veilig/v1/stream|" + context).derive(key)
    pieces = [plaintext[i : i + 65536] for i in range(0, len(plaintext), 65536)] or [b""]
    out = [header]
    for counter, piece in enumerate(pieces):
        nonce = counter.to_bytes(11, "big") + bytes([counter == len(pieces) - 1])
        out.append(AESGCM(item_key).encrypt(nonce, piece, header))
    return b"".join(out)


def test_a_flipped_byte_anywhere_is_detected() -> None:
    sealed = seal_bytes(KEY, CTX, os.urandom(2 * CHUNK_SIZE + 100))
    for position in (
        0,
        3,
        4,
        HEADER_SIZE - 1,
        HEADER_SIZE,
        HEADER_SIZE + CHUNK_SIZE,
        len(sealed) - 1,
    ):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(CannotOpen):
            open_bytes(KEY, CTX, bytes(tampered))


def test_truncation_at_a_chunk_boundary_is_detected() -> None:
    sealed = seal_bytes(KEY, CTX, os.urandom(2 * CHUNK_SIZE + 100))
    header, chunks = chunks_of(sealed)
    with pytest.raises(CannotOpen):
        open_bytes(KEY, CTX, header + b"".join(chunks[:2]))
    with pytest.raises(CannotOpen):
        open_bytes(KEY, CTX, header)
    with pytest.raises(CannotOpen):
        open_bytes(KEY, CTX, sealed[:-1])


def test_reordered_and_appended_chunks_are_detected() -> None:
    sealed = seal_bytes(KEY, CTX, os.urandom(3 * CHUNK_SIZE))
    header, chunks = chunks_of(sealed)
    with pytest.raises(CannotOpen):
        open_bytes(KEY, CTX, header + chunks[1] + chunks[0] + chunks[2])
    with pytest.raises(CannotOpen):
        open_bytes(KEY, CTX, sealed + chunks[1])


def test_header_swapped_between_two_messages_is_detected() -> None:
    first = seal_bytes(KEY, CTX, b"first message " * 100)
    second = seal_bytes(KEY, CTX, b"second message " * 100)
    with pytest.raises(CannotOpen):
        open_bytes(KEY, CTX, second[:HEADER_SIZE] + first[HEADER_SIZE:])


def test_a_stream_moved_to_another_item_or_key_does_not_open() -> None:
    sealed = seal_bytes(KEY, CTX, b"body text")
    with pytest.raises(CannotOpen):
        open_bytes(KEY, b"message-2|attachment|0", sealed)
    with pytest.raises(CannotOpen):
        open_bytes(new_content_key(), CTX, sealed)


def test_not_a_stream_and_unknown_version() -> None:
    with pytest.raises(CannotOpen):
        open_bytes(KEY, CTX, b"")
    sealed = bytearray(seal_bytes(KEY, CTX, b"x"))
    sealed[3] = 2
    with pytest.raises(CannotOpen):
        open_bytes(KEY, CTX, bytes(sealed))


class Zeros(io.RawIOBase):
    """``size`` bytes of input without holding them in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


class Discard(io.RawIOBase):
    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.size += len(data)
        return len(data)


def test_memory_does_not_grow_with_size() -> None:
    peaks = []
    for size in (1 * 1024**2, 32 * 1024**2):
        tracemalloc.start()
        sink = Discard()
        seal_stream(KEY, CTX, Zeros(size), sink)  # type: ignore[arg-type]
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert sink.size == sealed_size(size)
    # 32x the input, same working set: a few chunk buffers, not the file.
    assert peaks[1] < 8 * SEALED_CHUNK_SIZE and peaks[1] <= peaks[0] * 1.5
