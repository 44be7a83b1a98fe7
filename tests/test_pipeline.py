"""The overlapped seal and open of files (core.pipeline): the same bytes as the stream,
the same refusals, errors from any of its threads raised to the caller with no thread
left behind, flat memory; and the write-behind file it writes through (core.durable)."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import durable
from core.durable import DurableFile
from core.errors import CannotOpen
from core.pipeline import POOL, SEGMENT_CHUNKS, open_file, seal_file
from core.stream import (
    CHUNK_SIZE,
    HEADER_SIZE,
    SEALED_CHUNK_SIZE,
    open_bytes,
    open_stream,
    seal_bytes,
    seal_stream,
    sealed_size,
)
from tests.test_stream import CTX, KEY, KNOWN_DIGEST, Discard, Zeros, chunks_of

SEGMENT = SEGMENT_CHUNKS * CHUNK_SIZE
SALT = bytes(range(32))


class Reader(io.RawIOBase):
    """A file-like source (not a BytesIO, which the serial stream reads in place) that
    hands out at most ``step`` bytes per read, like a pipe or a slow disk."""

    def __init__(self, data: bytes, step: int = 1 << 30) -> None:
        self.data, self.position, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self.data) - self.position, self.step)
        buffer[:n] = self.data[self.position : self.position + n]
        self.position += n
        return n


def sealed_by_pipeline(data: bytes, step: int = 1 << 30) -> bytes:
    sink = io.BytesIO()
    assert seal_file(KEY, CTX, Reader(data, step), sink, salt=SALT) == len(data)
    return sink.getvalue()


def opened_by_pipeline(sealed: bytes) -> bytes:
    sink = io.BytesIO()
    assert open_file(KEY, CTX, Reader(sealed), sink) == len(sink.getvalue())
    return sink.getvalue()


def serial_seal(data: bytes) -> bytes:
    sink = io.BytesIO()
    seal_stream(KEY, CTX, io.BytesIO(data), sink, salt=SALT)
    return sink.getvalue()


SIZES = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    SEGMENT - 1,
    SEGMENT,
    SEGMENT + 1,
    2 * SEGMENT,
    3 * SEGMENT + CHUNK_SIZE,
    (POOL + 3) * SEGMENT + 5,  # more segments than buffers: each buffer goes round
]


@pytest.mark.parametrize("size", SIZES)
def test_the_pipeline_writes_the_streams_bytes_and_reads_them_back(size: int) -> None:
    data = os.urandom(size)
    sealed = sealed_by_pipeline(data)
    assert sealed == serial_seal(data)
    assert len(sealed) == sealed_size(size)
    assert opened_by_pipeline(sealed) == data
    assert open_bytes(KEY, CTX, sealed) == data


def test_the_known_answer_vector_through_the_pipeline() -> None:
    sink = io.BytesIO()
    seal_file(KEY, CTX, Reader(b"veilig" * 20_000), sink, salt=bytes(32))
    sealed = sink.getvalue()
    assert hashlib.sha256(sealed).hexdigest() == KNOWN_DIGEST


@given(st.binary(max_size=2 * SEGMENT + 7), st.integers(min_value=1, max_value=3 * CHUNK_SIZE))
@settings(max_examples=25, deadline=None)
def test_short_reads_change_nothing(data: bytes, step: int) -> None:
    sealed = sealed_by_pipeline(data, step)
    assert sealed == serial_seal(data)
    assert opened_by_pipeline(sealed) == data


def refusals(sealed: bytes) -> tuple[bool, bool]:
    """Whether the serial open and the pipeline's refuse ``sealed``."""
    refused = []
    for opener in (open_stream, open_file):
        try:
            opener(KEY, CTX, Reader(sealed), Discard())  # type: ignore[arg-type]
        except CannotOpen:
            refused.append(True)
        else:
            refused.append(False)
    return refused[0], refused[1]


def test_a_flipped_byte_anywhere_is_refused_as_by_the_stream() -> None:
    sealed = sealed_by_pipeline(os.urandom(2 * SEGMENT + 100))
    for position in (0, 4, HEADER_SIZE, HEADER_SIZE + SEGMENT_CHUNKS * SEALED_CHUNK_SIZE + 3):
        for position in (position, len(sealed) - 1 - position):
            tampered = bytearray(sealed)
            tampered[position] ^= 0x01
            assert refusals(bytes(tampered)) == (True, True), position


def test_truncation_reordering_and_appending_are_refused_as_by_the_stream() -> None:
    sealed = sealed_by_pipeline(os.urandom(2 * SEGMENT))  # ends on a segment boundary
    header, chunks = chunks_of(sealed)
    for damaged in (
        header,
        header + b"".join(chunks[:SEGMENT_CHUNKS]),  # cut on a segment boundary
        header + b"".join(chunks[:-1]),
        sealed[:-1],
        sealed + chunks[1],
        header + chunks[SEGMENT_CHUNKS] + b"".join(chunks[1:SEGMENT_CHUNKS]) + chunks[0],
        header + b"".join(chunks[:-1]) + chunks[-1][:16],
    ):
        assert refusals(damaged) == (True, True)
    assert refusals(sealed) == (False, False)


def no_threads_left(before: set[threading.Thread]) -> bool:
    return set(threading.enumerate()) <= before


class FailingReader(Reader):
    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self.position >= 3 * SEGMENT:
            raise OSError(5, "Input/output error")
        return super().readinto(buffer)


class FullDisk(io.RawIOBase):
    def __init__(self, room: int) -> None:
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        if len(data) > self.room:
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return len(data)


def test_an_error_in_any_thread_is_raised_to_the_caller_and_no_thread_is_left() -> None:
    before = set(threading.enumerate())
    data = os.urandom(10 * SEGMENT)
    with pytest.raises(OSError, match="Input/output"):  # the reader thread
        seal_file(KEY, CTX, FailingReader(data), Discard())  # type: ignore[arg-type]
    with pytest.raises(OSError, match="No space"):  # the writer thread
        seal_file(KEY, CTX, Reader(data), FullDisk(3 * SEGMENT))  # type: ignore[arg-type]

    def stop(done: int) -> None:  # the calling thread: progress may raise (a cancel)
        if done > 2 * SEGMENT:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        seal_file(KEY, CTX, Reader(data), Discard(), stop)  # type: ignore[arg-type]
    sealed = bytearray(sealed_by_pipeline(data))
    sealed[-5 * SEALED_CHUNK_SIZE] ^= 1  # the calling thread: a chunk that does not verify
    with pytest.raises(CannotOpen):
        open_file(KEY, CTX, Reader(bytes(sealed)), Discard())  # type: ignore[arg-type]
    assert no_threads_left(before)


def test_progress_counts_plaintext_written_up_to_the_whole() -> None:
    data = os.urandom(5 * SEGMENT + 17)
    seen: list[int] = []
    sink = io.BytesIO()
    seal_file(KEY, CTX, Reader(data), sink, seen.append)
    assert seen == sorted(seen) and seen[-1] == len(data) and len(seen) > 3
    opened: list[int] = []
    open_file(KEY, CTX, Reader(sink.getvalue()), Discard(), opened.append)  # type: ignore[arg-type]
    assert opened == sorted(opened) and opened[-1] == len(data) and len(opened) > 3


def test_memory_does_not_grow_with_size() -> None:
    peaks = []
    for size in (1 * 1024**2, 64 * 1024**2):
        tracemalloc.start()
        sink = Discard()
        seal_file(KEY, CTX, Zeros(size), sink)  # type: ignore[arg-type]
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert sink.size == sealed_size(size)
    # 64x the input, the same working set: the two pools of segment buffers.
    pools = POOL * SEGMENT_CHUNKS * (CHUNK_SIZE + SEALED_CHUNK_SIZE)
    assert peaks[1] < pools + 1024**2 and peaks[1] <= peaks[0] * 1.5


def test_a_durable_file_writes_behind_and_syncs(tmp_path: Path, monkeypatch) -> None:
    """Write-behind starts each window and waits for the one before; the end is an
    fsync. Recorded through the real calls (which run on this file system too)."""
    calls: list[tuple[int, int, int]] = []
    real = durable._range_syncer()
    if real is None:
        pytest.skip("no sync_file_range here (not Linux)")

    def recording(fd: int, offset: int, length: int, flags: int) -> int:
        calls.append((offset, length, flags))
        return real(fd, offset, length, flags)

    monkeypatch.setattr(durable, "_range_syncer", lambda: recording)
    monkeypatch.setattr(durable, "WINDOW", 1024**2)
    fsyncs: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd))
    path = tmp_path / "blob"
    data = os.urandom(5 * 1024**2 + 3)
    with DurableFile(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)) as sink:
        for start in range(0, len(data), 300_000):
            sink.write(data[start : start + 300_000])
        sink.sync()
        assert fsyncs == [sink.fileno()]
    assert path.read_bytes() == data
    started = [(o, n) for o, n, flags in calls if flags == 2]
    waited = [(o, n) for o, n, flags in calls if flags == 7]
    assert len(started) >= 3 and started[0][0] == 0  # each window, in order, no gaps
    assert all(a[0] + a[1] == b[0] for a, b in zip(started, started[1:], strict=False))
    assert all(n >= 1024**2 for _, n in started)
    assert waited == started[:-1]  # each one but the newest waited for, then dropped


def test_a_file_system_that_refuses_write_behind_still_gets_its_fsync(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(durable, "_range_syncer", lambda: lambda *args: -1)
    monkeypatch.setattr(durable, "WINDOW", 1024)
    path = tmp_path / "blob"
    fsyncs: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd))
    with DurableFile(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)) as sink:
        for _ in range(10):
            sink.write(b"x" * 1000)
        sink.sync()
    assert path.read_bytes() == b"x" * 10_000 and len(fsyncs) == 1


def test_seal_bytes_and_the_pipeline_agree_on_what_they_open() -> None:
    data = os.urandom(SEGMENT + 3)
    assert opened_by_pipeline(seal_bytes(KEY, CTX, data)) == data
