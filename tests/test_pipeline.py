"""The overlapped seal and open of files (core.pipeline): the same bytes as the stream,
the same refusals, errors from any of its threads raised to the caller with no thread
left behind, flat memory; and the write-behind file it writes through (core.directio)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import threading
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import directio
from core.directio import AHEAD, DIRECT_FROM, READ, STAGE, DirectReader, DurableFile
from core.errors import CannotOpen
from core.pipeline import BLOCK, POOL, SEGMENT_CHUNKS, open_file, seal_file
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
    BLOCK - HEADER_SIZE - 16,  # the sealed stream ends on a block boundary
    (POOL + 3) * SEGMENT + 5,  # more blocks than the pool has: each goes round
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
    data = os.urandom(4 * BLOCK + 17)  # progress moves as output blocks are written
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
    # 64x the input, the same working set: the input segments, and the bytes Zeros makes
    # per read. (The output blocks are mmaps, which tracemalloc does not see:
    # tests/test_big_attachment_tui.py measures them, as resident memory.)
    assert peaks[1] < (POOL + 2) * SEGMENT and peaks[1] <= peaks[0] * 1.5


def write_in_pieces(sink: DurableFile, data: bytes, piece: int) -> None:
    for start in range(0, len(data), piece):
        assert sink.write(data[start : start + piece]) == len(data[start : start + piece])


@pytest.mark.parametrize("size", [0, 1, 4095, STAGE - 1, STAGE, STAGE + 1, 3 * STAGE + 4097])
def test_a_durable_file_holds_what_was_written_and_is_fsynced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    fsyncs: list[int] = []
    monkeypatch.setattr(os, "fsync", fsyncs.append)
    data = os.urandom(size)
    path = tmp_path / "blob"
    with DurableFile(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)) as sink:
        write_in_pieces(sink, data, SEALED_CHUNK_SIZE)
        assert sink.tell() == size
        sink.finish()
        assert fsyncs == [sink.fileno()]
    assert path.read_bytes() == data


def test_whole_staging_buffers_go_straight_to_the_device(tmp_path: Path) -> None:
    """O_DIRECT where the file system has it (ext4, xfs, btrfs; tmpfs since Linux 6.6):
    whole buffers at buffer offsets, only the tail through the page cache."""
    path = tmp_path / "blob"
    sink = DurableFile(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if not sink._direct:
        sink.close()
        pytest.skip("this file system refuses O_DIRECT")
    with sink:
        write_in_pieces(sink, os.urandom(2 * STAGE + 10), SEALED_CHUNK_SIZE)
        assert sink._direct and path.stat().st_size == 2 * STAGE  # on the device already
        sink.finish()
    assert path.stat().st_size == 2 * STAGE + 10


def test_aligned_blocks_are_written_as_they_are_and_unaligned_memory_is_copied(
    tmp_path: Path,
) -> None:
    import mmap

    path = tmp_path / "blob"
    blocks = [mmap.mmap(-1, BLOCK) for _ in range(2)]
    for block in blocks:
        block.write(os.urandom(BLOCK))
    odd = bytearray(BLOCK + 1)
    odd[1:] = os.urandom(BLOCK)  # a whole block, but at an odd address
    with DurableFile(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)) as sink:
        for data in (memoryview(blocks[0]), memoryview(odd)[1:], memoryview(blocks[1])):
            sink.write(data)
        sink.write(b"tail")
        sink.finish()
    assert path.read_bytes() == blocks[0][:] + bytes(odd[1:]) + blocks[1][:] + b"tail"


def test_o_direct_refused_mid_file_goes_on_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that wants larger blocks refuses a write with EINVAL (a short write
    leaves the offset unaligned likewise): the rest goes through the page cache."""
    real_write, writes = os.write, []

    def refusing_the_second(fd: int, data) -> int:
        writes.append(len(data))
        if len(writes) == 2:
            raise OSError(errno.EINVAL, "Invalid argument")
        if len(writes) == 3:
            return real_write(fd, data[:1000])  # then a short one
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", refusing_the_second)
    data = os.urandom(5 * STAGE + 3)
    path = tmp_path / "blob"
    with DurableFile(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)) as sink:
        write_in_pieces(sink, data, 1_000_000)
        sink.finish()
    assert path.read_bytes() == data


def test_a_full_disk_is_not_taken_for_a_refused_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with DurableFile(os.open(tmp_path / "blob", os.O_WRONLY | os.O_CREAT, 0o600)) as sink:
        with pytest.raises(OSError, match="No space"):
            write_in_pieces(sink, bytes(STAGE), STAGE)
            sink.finish()


def test_without_o_direct_writes_behind_window_by_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where O_DIRECT is refused: writeback of each window is started as it is written
    (without waiting), and the window before last leaves the page cache."""
    real = directio._range_syncer()
    if real is None:
        pytest.skip("no sync_file_range here (not Linux)")
    started: list[tuple[int, int]] = []
    dropped: list[tuple[int, int]] = []

    def recording(fd: int, offset: int, length: int, flags: int) -> int:
        assert flags == 2  # SYNC_FILE_RANGE_WRITE alone: never waits
        started.append((offset, length))
        return real(fd, offset, length, flags)

    advise = os.posix_fadvise
    monkeypatch.setattr(directio, "_set_direct", lambda fd, on: False)
    monkeypatch.setattr(directio, "_range_syncer", lambda: recording)
    monkeypatch.setattr(directio, "WINDOW", 1024**2)
    monkeypatch.setattr(
        os,
        "posix_fadvise",
        lambda fd, o, n, advice: (dropped.append((o, n)), advise(fd, o, n, advice)),
    )
    data = os.urandom(5 * 1024**2 + 3)
    path = tmp_path / "blob"
    with DurableFile(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)) as sink:
        write_in_pieces(sink, data, 300_000)
        sink.finish()
    assert path.read_bytes() == data
    assert len(started) >= 3 and started[0][0] == 0  # each window, in order, no gaps
    assert all(a[0] + a[1] == b[0] for a, b in zip(started, started[1:], strict=False))
    assert dropped == started[: len(dropped)] and len(dropped) == len(started) - 2


def test_where_write_behind_is_refused_the_fsync_still_comes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directio, "_set_direct", lambda fd, on: False)
    monkeypatch.setattr(directio, "_range_syncer", lambda: lambda *args: -1)
    monkeypatch.setattr(directio, "WINDOW", 1024)
    fsyncs: list[int] = []
    monkeypatch.setattr(os, "fsync", fsyncs.append)
    path = tmp_path / "blob"
    with DurableFile(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)) as sink:
        write_in_pieces(sink, b"x" * 10_000, 1000)
        sink.finish()
    assert path.read_bytes() == b"x" * 10_000 and len(fsyncs) == 1


def read_as_the_pipeline_does(reader: DirectReader) -> bytes:
    """The header, then segments of sealed chunks, as open_file reads a blob."""
    parts = [reader.read(HEADER_SIZE)]
    segment = bytearray(SEGMENT_CHUNKS * SEALED_CHUNK_SIZE)
    while n := reader.readinto(segment):
        parts.append(bytes(segment[:n]))
    return b"".join(parts)


@pytest.mark.parametrize(
    "size",
    [0, 100, DIRECT_FROM - 1, DIRECT_FROM, READ - 1, READ, READ + 1, 2 * READ + 37, 7 * READ]
    + [AHEAD * READ, (AHEAD + 2) * READ + 5],  # every buffer reused, more than once
)
def test_a_direct_reader_reads_the_whole_file(tmp_path: Path, size: int) -> None:
    path = tmp_path / "blob"
    data = os.urandom(size)
    path.write_bytes(data)
    with DirectReader(os.open(path, os.O_RDONLY)) as reader:
        assert read_as_the_pipeline_does(reader) == data


@pytest.mark.parametrize(("size", "reads"), [(DIRECT_FROM, 1), (READ + 1, 2), (9 * READ, AHEAD)])
def test_a_direct_reader_starts_no_more_reads_than_the_file_has(
    tmp_path: Path, size: int, reads: int
) -> None:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(size))
    with DirectReader(os.open(path, os.O_RDONLY)) as reader:
        if reader._pool is None:
            pytest.skip("O_DIRECT is refused here: the file is read plainly")
        assert len(reader._pending) == reads and len(reader._buffers) == reads + 1


def test_a_direct_reader_where_o_direct_is_refused_reads_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "blob"
    data = os.urandom(READ + 5)
    path.write_bytes(data)
    real_preadv, calls = os.preadv, []

    def refusing_the_first(fd: int, buffers, offset: int) -> int:
        calls.append(offset)
        if len(calls) == 1:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", refusing_the_first)
    with DirectReader(os.open(path, os.O_RDONLY)) as reader:
        assert read_as_the_pipeline_does(reader) == data
        assert reader._pool is None  # plain reads from the refusal on


def test_seal_bytes_and_the_pipeline_agree_on_what_they_open() -> None:
    data = os.urandom(SEGMENT + 3)
    assert opened_by_pipeline(seal_bytes(KEY, CTX, data)) == data
