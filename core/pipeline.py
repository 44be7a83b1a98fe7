"""Sealing and opening files with reading, AES-GCM and writing overlapped on threads.

The bytes are ``core.stream``'s format, the same to the byte (the tests compare both
against the known-answer vector and at every chunk and block boundary). Only the work
is spread over three threads, so that the disk and the cipher run at once on two cores
instead of one after the other::

    reader thread    reads the source in segments of SEGMENT_CHUNKS chunks, one ahead
                     (to know which chunk is the last)
    calling thread   seals, or verifies and opens, each chunk straight into the output
                     block it belongs to
    writer thread    writes the blocks to the sink, in order

AES-GCM, reads and writes all release the GIL. The output is cut into blocks of
``BLOCK`` bytes whatever the chunks: every write but the last is a whole block at a
multiple of ``BLOCK``, so a ``core.directio.DurableFile`` sends it to the device with
``O_DIRECT`` straight from the block, without a copy. A sealed chunk (64 KiB + 16) that
does not fit in what is left of a block is sealed aside and split over two; plaintext
chunks fill blocks exactly.

Memory is flat: ``POOL`` input segments of 1 MiB and ``POOL`` output blocks of
``BLOCK`` bytes, handed from thread to thread and back (a thread that runs ahead waits
for a free one): about 20 MiB in all, whatever the size of the file.

Errors: the first error in any thread (a read that fails, a file that changed, a chunk
that does not verify, a full disk, an exception from ``progress``) stops all three: a
waiting thread notices within ``_POLL`` seconds, reader and writer are joined, and the
error is raised in the calling thread, as from ``seal_stream``/``open_stream``. What
was written is left to the caller, who keeps it aside (a blob's temporary name, a
saved file's temporary name) until a normal return.
"""

from __future__ import annotations

import mmap
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO, TypeVar

from core.errors import CannotOpen
from core.stream import (
    CHUNK_SIZE,
    SEALED_CHUNK_SIZE,
    TAG_SIZE,
    ChunkOpener,
    ChunkSealer,
    ContentKey,
    Progress,
    read_full,
    read_header,
)

# Bytes per write: a multiple of any disk block and of CHUNK_SIZE. Each write is one
# request to the device; with 4 MiB instead of 1 MiB the open of 1 GiB from the disk ran
# 1.15x as fast (paired runs, docs/PERFORMANCE.md, "Deeper reads and larger writes").
BLOCK = 4 * 1024 * 1024
SEGMENT_CHUNKS = 16  # chunks per read: 1 MiB of plaintext
POOL = 4  # segments and blocks: one being filled, one being used, two in between
_POLL = 0.05  # seconds: how soon a waiting thread notices that another one failed

_T = TypeVar("_T")
# A block on its way to the writer: the buffer, how many bytes of it to write, and the
# plaintext bytes that are then written (to report progress).
_Block = tuple[mmap.mmap, int, int]
# A segment from the reader: the buffer, how many bytes it holds, whether they end it.
_Segment = tuple[bytearray, int, bool]


class _Stopped(Exception):
    """Raised in a thread that waits for another one when another one has failed."""


class _Run:
    """What the threads of one seal or open share: the first error, and waiting that
    gives up as soon as there is one."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.failed = threading.Event()
        self._lock = threading.Lock()

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error
        self.failed.set()

    def take(self, source: queue.SimpleQueue[_T]) -> _T:
        while not self.failed.is_set():
            try:
                return source.get(timeout=_POLL)
            except queue.Empty:
                continue
        raise _Stopped


def _read(
    run: _Run,
    source: BinaryIO,
    free: queue.SimpleQueue[bytearray],
    ready: queue.SimpleQueue[_Segment],
) -> None:
    """Reader thread: fill segments from ``source``, in order. A full one is handed on
    only once the next read shows whether more follows (the stream's last chunk is
    sealed with a flag); an empty stream is one empty segment."""
    try:
        buffer = run.take(free)
        filled = read_full(source, memoryview(buffer))
        while filled == len(buffer):
            upcoming = run.take(free)
            upcoming_filled = read_full(source, memoryview(upcoming))
            if upcoming_filled == 0:
                free.put(upcoming)
                break
            ready.put((buffer, filled, False))
            buffer, filled = upcoming, upcoming_filled
        ready.put((buffer, filled, True))
    except _Stopped:
        return
    except BaseException as error:  # handed to the calling thread
        run.fail(error)


def _write(
    run: _Run,
    sink: BinaryIO,
    ready: queue.SimpleQueue[_Block | None],
    free: queue.SimpleQueue[_Block | None],
) -> None:
    """Writer thread: write each block, in order, and hand it back (with the plaintext
    bytes now written); ``None`` after the last."""
    try:
        while (block := run.take(ready)) is not None:
            buffer, size, plaintext = block
            sink.write(memoryview(buffer)[:size])
            free.put(block)
        free.put(None)
    except _Stopped:
        return
    except BaseException as error:  # handed to the calling thread
        run.fail(error)


class _Output:
    """The calling thread's side of the output: fills blocks in order, hands each full
    one to the writer, and reports progress as the writer hands them back."""

    def __init__(self, run: _Run, sink: BinaryIO, progress: Progress | None) -> None:
        self.run = run
        self.progress = progress
        self.free: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self.ready: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        for _ in range(POOL):
            self.free.put((mmap.mmap(-1, BLOCK), 0, 0))  # page-aligned, for O_DIRECT
        self.writer = threading.Thread(
            target=_write, args=(run, sink, self.ready, self.free), daemon=True
        )
        self.writer.start()
        self.plaintext = 0  # bytes of plaintext whose output is complete in blocks
        self._reported = 0
        self._take_block()

    def _take_block(self) -> None:
        block = self.run.take(self.free)
        assert block is not None
        self.buffer = block[0]
        self.view = memoryview(self.buffer)
        self.filled = 0
        self._report(block[2])

    def _report(self, written: int) -> None:
        if written > self._reported:
            self._reported = written
            if self.progress:
                self.progress(written)

    def room(self) -> memoryview:
        """The rest of the current block (never empty), to write into; then ``commit``."""
        return self.view[self.filled :]

    def commit(self, n: int, plaintext: int = 0) -> None:
        """``n`` bytes were put in ``room()``, completing ``plaintext`` bytes of input."""
        self.filled += n
        self.plaintext += plaintext
        if self.filled == BLOCK:
            self._hand_on()
            self._take_block()

    def put(self, data: memoryview, plaintext: int) -> None:
        """Copy ``data`` in, across blocks where it does not fit."""
        while data:
            room = self.room()
            n = min(len(room), len(data))
            room[:n] = data[:n]
            data = data[n:]
            self.commit(n, plaintext if not data else 0)

    def _hand_on(self) -> None:
        self.ready.put((self.buffer, self.filled, self.plaintext))

    def finish(self) -> None:
        """Hand on the last block and wait until everything is written."""
        self._hand_on()
        self.ready.put(None)
        while (block := self.run.take(self.free)) is not None:
            self._report(block[2])

    def stop(self) -> None:
        self.ready.put(None)  # a writer still waiting for work ends
        self.writer.join()


def _overlapped(
    source: BinaryIO,
    sink: BinaryIO,
    segment: int,
    fill: Callable[[_Output, memoryview, bool], None],
    progress: Progress | None,
    first: bytes = b"",
) -> int:
    """Put ``first`` out; then, as the reader thread reads ``source`` in segments of
    ``segment`` bytes, let ``fill`` turn each (with whether it ends the stream) into
    output, which the writer thread writes. Returns the plaintext size."""
    run = _Run()
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    ready: queue.SimpleQueue[_Segment] = queue.SimpleQueue()
    for _ in range(POOL):
        free.put(bytearray(segment))
    output = _Output(run, sink, progress)
    reader = threading.Thread(target=_read, args=(run, source, free, ready), daemon=True)
    reader.start()
    try:
        output.put(memoryview(first), 0)
        last = False
        while not last:
            buffer, filled, last = run.take(ready)
            fill(output, memoryview(buffer)[:filled], last)
            free.put(buffer)
        output.finish()
    except _Stopped:
        pass  # another thread failed: its error is raised below
    except BaseException as error:
        run.fail(error)
    finally:
        output.stop()
        reader.join()
    if run.error is not None:
        raise run.error
    return output.plaintext


def seal_file(
    content_key: ContentKey,
    context: bytes,
    source: BinaryIO,
    sink: BinaryIO,
    progress: Progress | None = None,
    *,
    salt: bytes | None = None,
) -> int:
    """``seal_stream``, overlapped: the same bytes into ``sink``. Returns the plaintext
    size. ``salt`` is for known-answer tests only."""
    sealer = ChunkSealer(content_key, context, salt)
    seal_chunk = sealer.seal_chunk
    aside = memoryview(bytearray(SEALED_CHUNK_SIZE))
    counter = 0

    def seal_segment(output: _Output, plain: memoryview, last: bool) -> None:
        nonlocal counter
        size = len(plain)
        for start in range(0, max(size, 1), CHUNK_SIZE):  # an empty stream: one chunk
            chunk = plain[start : start + CHUNK_SIZE]
            final = last and start + CHUNK_SIZE >= size
            room = output.room()
            if len(room) >= len(chunk) + TAG_SIZE:
                output.commit(seal_chunk(counter, chunk, final, room), len(chunk))
            else:  # across two blocks
                output.put(aside[: seal_chunk(counter, chunk, final, aside)], len(chunk))
            counter += 1

    segment = SEGMENT_CHUNKS * CHUNK_SIZE
    return _overlapped(source, sink, segment, seal_segment, progress, first=sealer.header)


def open_file(
    content_key: ContentKey,
    context: bytes,
    source: BinaryIO,
    sink: BinaryIO,
    progress: Progress | None = None,
) -> int:
    """``open_stream``, overlapped: verify and decrypt ``source`` into ``sink``. Returns
    the plaintext size. As there, chunks reach ``sink`` as they are verified; only a
    normal return means the whole stream was intact."""
    opener = ChunkOpener(content_key, context, read_header(source))
    open_chunk = opener.open_chunk
    counter = 0

    def open_segment(output: _Output, sealed: memoryview, last: bool) -> None:
        nonlocal counter
        size = len(sealed)
        if size == 0:  # a header and nothing after it
            raise CannotOpen("stream truncated")
        for start in range(0, size, SEALED_CHUNK_SIZE):
            chunk = sealed[start : start + SEALED_CHUNK_SIZE]
            final = last and start + SEALED_CHUNK_SIZE >= size
            # Plaintext chunks fill blocks exactly (BLOCK is a multiple of CHUNK_SIZE).
            n = open_chunk(counter, chunk, final, output.room())
            output.commit(n, n)
            counter += 1

    return _overlapped(source, sink, SEGMENT_CHUNKS * SEALED_CHUNK_SIZE, open_segment, progress)
