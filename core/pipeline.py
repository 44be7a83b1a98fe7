"""Sealing and opening files with reading, AES-GCM and writing overlapped on threads.

The bytes are ``core.stream``'s format, the same to the byte (the tests compare both
against the known-answer vector and at every chunk and segment boundary). Only the work
is spread over three threads, so that the disk, the cipher and the page cache copies
run at once on two cores instead of one after the other::

    reader thread    source -> segments of plaintext (or ciphertext), one read ahead
    calling thread   seals (or verifies and opens) each segment's chunks
    writer thread    segments -> sink, in order (the sink's write-behind runs here)

A segment is ``SEGMENT_CHUNKS`` chunks: one read and one write of ~256 KiB each (the
size that writes fastest into the page cache here, see docs/PERFORMANCE.md), one hand-
over between threads per four chunks. AES-GCM, reads and writes release the GIL.

Memory is flat: each side has a pool of ``POOL`` segment buffers, handed from thread to
thread and back; a stage that runs ahead waits for a free buffer. About 3 MiB in all,
whatever the size of the file.

Errors: the first error in any thread (a read that fails, a file that changed, a chunk
that does not verify, a full disk, an exception from ``progress``) stops all three; the
other threads notice within ``_POLL`` seconds, are joined, and the error is raised in
the calling thread, as from ``seal_stream``/``open_stream``. What was written is left
to the caller, who keeps it aside (a blob's temporary name, an opened file's temporary
name) until a normal return.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import BinaryIO, TypeVar

from core.errors import CannotOpen
from core.stream import (
    CHUNK_SIZE,
    SEALED_CHUNK_SIZE,
    ChunkOpener,
    ChunkSealer,
    ContentKey,
    Progress,
    read_full,
    read_header,
)

SEGMENT_CHUNKS = 4
POOL = 6  # buffers per side: the reader holds two, the others one each, and slack
_POLL = 0.05  # seconds: how soon a waiting thread notices that another one failed

_T = TypeVar("_T")
# Input on its way: a buffer, how many bytes it holds, whether they end the stream.
_Segment = tuple[memoryview, int, bool]
# Output on its way: a buffer, how many bytes it holds, how many plaintext bytes that is.
_Output = tuple[memoryview, int, int]


class _Stopped(Exception):
    """Raised in a thread waiting for work when another thread has failed."""


class _Run:
    """What the three threads of one seal or open share: the first error, and waiting
    that gives up as soon as there is one."""

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
        while True:
            if self.failed.is_set():
                raise _Stopped
            try:
                return source.get(timeout=_POLL)
            except queue.Empty:
                continue


def _pool(size: int) -> queue.SimpleQueue[memoryview]:
    free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
    for _ in range(POOL):
        free.put(memoryview(bytearray(size)))
    return free


def _read(
    run: _Run,
    source: BinaryIO,
    free: queue.SimpleQueue[memoryview],
    ready: queue.SimpleQueue[_Segment],
) -> None:
    """Reader thread: fill buffers from ``source``, in order. A full segment is handed
    on only once the next read shows whether more follows (the stream's last chunk is
    sealed with a flag); an empty stream is one empty segment."""
    try:
        buffer = run.take(free)
        filled = read_full(source, buffer)
        while filled == len(buffer):
            upcoming = run.take(free)
            upcoming_filled = read_full(source, upcoming)
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
    ready: queue.SimpleQueue[_Output | None],
    free: queue.SimpleQueue[memoryview],
    written: queue.SimpleQueue[int | None],
) -> None:
    """Writer thread: write each segment, in order; then report its plaintext bytes."""
    try:
        while (segment := run.take(ready)) is not None:
            buffer, size, plaintext = segment
            sink.write(buffer[:size])
            free.put(buffer)
            written.put(plaintext)
        written.put(None)
    except _Stopped:
        return
    except BaseException as error:  # handed to the calling thread
        run.fail(error)


# Turns one segment into output: (counter of its first chunk, input, input size, whether
# it ends the stream, output buffer) -> (output size, chunks, plaintext bytes).
_Transform = Callable[[int, memoryview, int, bool, memoryview], tuple[int, int, int]]


def _overlapped(
    source: BinaryIO,
    sink: BinaryIO,
    sizes: tuple[int, int],
    transform: _Transform,
    progress: Progress | None,
) -> int:
    """Run reader and writer threads around ``transform`` in the calling thread, with
    pools of input and output buffers of ``sizes``. Returns the plaintext size;
    ``progress`` hears of plaintext bytes once they are written (in this thread)."""
    run = _Run()
    in_free, out_free = _pool(sizes[0]), _pool(sizes[1])
    in_ready: queue.SimpleQueue[_Segment] = queue.SimpleQueue()
    out_ready: queue.SimpleQueue[_Output | None] = queue.SimpleQueue()
    written: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    threads = [
        threading.Thread(target=_read, args=(run, source, in_free, in_ready), daemon=True),
        threading.Thread(
            target=_write, args=(run, sink, out_ready, out_free, written), daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    total = done = counter = 0
    try:
        last = False
        while not last:
            buffer, size, last = run.take(in_ready)
            out = run.take(out_free)
            produced, chunks, plaintext = transform(counter, buffer, size, last, out)
            in_free.put(buffer)
            out_ready.put((out, produced, plaintext))
            counter += chunks
            total += plaintext
            while progress and not written.empty():  # what the writer finished meanwhile
                done += written.get() or 0
                progress(done)
        out_ready.put(None)
        while (finished := run.take(written)) is not None:
            done += finished
            if progress:
                progress(done)
    except _Stopped:
        pass  # another thread failed: its error is raised below
    except BaseException as error:
        run.fail(error)
    finally:
        for thread in threads:
            thread.join()
    if run.error is not None:
        raise run.error
    return total


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

    def seal_segment(
        counter: int, plain: memoryview, size: int, last: bool, out: memoryview
    ) -> tuple[int, int, int]:
        if size == 0:  # only an empty stream has an empty (last) chunk
            return seal_chunk(counter, plain[:0], True, out), 1, 0
        produced = chunks = 0
        for start in range(0, size, CHUNK_SIZE):
            end = min(start + CHUNK_SIZE, size)
            chunk = plain[start:end]
            produced += seal_chunk(counter + chunks, chunk, last and end == size, out[produced:])
            chunks += 1
        return produced, chunks, size

    sink.write(sealer.header)
    sizes = (SEGMENT_CHUNKS * CHUNK_SIZE, SEGMENT_CHUNKS * SEALED_CHUNK_SIZE)
    return _overlapped(source, sink, sizes, seal_segment, progress)


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

    def open_segment(
        counter: int, sealed: memoryview, size: int, last: bool, out: memoryview
    ) -> tuple[int, int, int]:
        if size == 0:  # a header and nothing after it
            raise CannotOpen("stream truncated")
        produced = chunks = 0
        for start in range(0, size, SEALED_CHUNK_SIZE):
            end = min(start + SEALED_CHUNK_SIZE, size)
            chunk = sealed[start:end]
            produced += open_chunk(counter + chunks, chunk, last and end == size, out[produced:])
            chunks += 1
        return produced, chunks, produced

    sizes = (SEGMENT_CHUNKS * SEALED_CHUNK_SIZE, SEGMENT_CHUNKS * CHUNK_SIZE)
    return _overlapped(source, sink, sizes, open_segment, progress)
