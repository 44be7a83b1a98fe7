"""Large files written and read around the page cache: ``O_DIRECT``, and a short fsync.

On the 2-core virtual machine of docs/PERFORMANCE.md a page-cache page that is new to a
file costs a fault on the host the first time it is touched, at random from a few to
30 times the copy itself (bare loops there): most of the blob store's write time, and
the reason a cold read of 1 GiB took 0.1 to 2 s of kernel CPU from one run to the next.
``O_DIRECT`` moves the bytes between the device and this process's own buffers, which
are reused and so touched once: the cost is the device's.

``DurableFile`` writes a new file: whole blocks at block offsets go to the device as
they are written (from the caller's page-aligned memory as it is, anything else through
a reused staging buffer of ``STAGE`` bytes), so by the time the last byte is written
only the tail is left, which ``finish`` writes through the page cache before its
``fsync``. ``DirectReader`` reads a file from the start in aligned reads of ``READ``
bytes into its own buffer.

Where ``O_DIRECT`` is refused (tmpfs before Linux 6.6, some FUSE and network file
systems, a device with larger blocks, not Linux), both go through the page cache; a
``DurableFile`` then writes behind: every ``WINDOW`` bytes
``sync_file_range(SYNC_FILE_RANGE_WRITE)`` starts writeback of the window just written
and returns at once, and ``posix_fadvise(DONTNEED)`` lets go of the window before last,
so the cache holds a few windows, not the file. Without ``sync_file_range`` (not
Linux): plain writes.

Neither ``O_DIRECT`` nor ``sync_file_range`` is a durability guarantee (metadata, the
device's own cache): the ``fsync`` in ``finish`` is, as before. They make it short.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import io
import mmap
import os
from collections.abc import Callable
from typing import Any

STAGE = 2 * 1024 * 1024  # bytes per O_DIRECT write from the staging buffer
READ = 4 * 1024 * 1024  # bytes per O_DIRECT read
# O_DIRECT reads in flight, 32 MiB in all; each holds a buffer of READ bytes. The open
# of 1 GiB from the disk ran 1.14x as fast with 8 as with 3, and 1.18-1.31x with the
# pipeline's larger writes as well (paired runs, docs/PERFORMANCE.md, "Deeper reads and
# larger writes"). 4 reads in flight (16 MiB) gained nothing there.
AHEAD = 8
DIRECT_FROM = 1024 * 1024  # smaller files are read through the page cache (metas, bodies)
_ALIGN = 4096  # O_DIRECT's unit: a multiple of the block size of any disk in use
WINDOW = 8 * 1024 * 1024  # bytes per write-behind step, where O_DIRECT is refused

_WRITE = 2  # SYNC_FILE_RANGE_WRITE of <fcntl.h>: start writeback, do not wait

_sync_file_range: Callable[[int, int, int, int], int] | None = None
_looked_up = False


def _range_syncer() -> Callable[[int, int, int, int], int] | None:
    """libc's ``sync_file_range`` (Python's os module has none), looked up once, when a
    file first needs it (ctypes is not imported before)."""
    global _sync_file_range, _looked_up
    if not _looked_up:
        _looked_up = True
        try:
            import ctypes

            function = ctypes.CDLL(None, use_errno=True).sync_file_range
        except (OSError, AttributeError):
            return None  # not Linux: plain writes, the final fsync alone
        # ctypes releases the GIL during the call.
        function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        function.restype = ctypes.c_int
        _sync_file_range = function
    return _sync_file_range


def _set_direct(fd: int, on: bool) -> bool:
    """Turn ``O_DIRECT`` on or off for ``fd``; whether it is now on."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return False
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | direct) if on else (flags & ~direct))
    except OSError:
        return False  # the file system does not do O_DIRECT
    return on


class DurableFile(io.RawIOBase):
    """A new, empty file being written through ``fd`` (which it owns and closes).
    ``finish`` writes what is still staged and, when ``durable``, fsyncs: until then the
    last bytes may be in the staging buffer only. ``durable`` false leaves out the fsync
    alone (only to measure what it costs).

    A write of whole blocks (a multiple of ``_ALIGN`` bytes) from page-aligned memory,
    with nothing staged before it, goes to the device as it is, without a copy: how
    ``core.pipeline`` writes its blocks. Anything else is copied into the staging
    buffer first."""

    def __init__(self, fd: int, *, durable: bool = True) -> None:
        self.fd = fd
        self.durable = durable
        self._written = 0  # bytes in the file (staged bytes come on top)
        self._direct = os.lseek(fd, 0, os.SEEK_CUR) == 0 and _set_direct(fd, True)
        self._zero_copy = True  # until a caller's memory turns out not to be aligned
        self._stage: mmap.mmap | None = None  # made on first need: page-aligned
        self._staged = 0
        self._range_sync: Callable[[int, int, int, int], int] | None = None
        self._started = self._previous = self._dropped = 0  # write-behind marks
        if not self._direct:
            self._buffered()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def tell(self) -> int:
        return self._written + self._staged

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        if not self._direct:
            self._write_all(view)
        elif not self._staged and self._zero_copy and len(view) % _ALIGN == 0:
            self._write_direct(view, theirs=True)
        else:
            self._stage_in(view)
        return len(view)

    def _stage_in(self, view: memoryview) -> None:
        if self._stage is None:
            self._stage = mmap.mmap(-1, STAGE)
        taken = 0
        while taken < len(view) and self._direct:
            n = min(STAGE - self._staged, len(view) - taken)
            self._stage[self._staged : self._staged + n] = view[taken : taken + n]
            self._staged += n
            taken += n
            if self._staged == STAGE:
                self._staged = 0
                self._write_direct(memoryview(self._stage), theirs=False)
        if taken < len(view):  # O_DIRECT was refused on the way: the rest as well
            self._write_all(view[taken:])

    def _write_direct(self, view: memoryview, *, theirs: bool) -> None:
        """Whole blocks at a block offset, with O_DIRECT. If that is refused: from the
        staging buffer (the caller's memory may not be aligned), and if that is refused
        too, through the page cache from here on."""
        try:
            n = os.write(self.fd, view)
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise  # a full disk, an I/O error: the caller's to handle
            if theirs:
                self._zero_copy = False
                self._stage_in(view)
                return
            n = 0
        self._written += n
        if n < len(view):  # refused, or short: the offset is no longer aligned
            self._buffered()
            self._write_all(view[n:])

    def _buffered(self) -> None:
        """From here on, through the page cache, with write-behind where there is one."""
        if self._direct:
            self._direct = _set_direct(self.fd, False)
        self._range_sync = _range_syncer()
        self._started = self._previous = self._dropped = self._written

    def _write_all(self, view: memoryview) -> None:
        done = 0
        while done < len(view):  # a short write only where a signal came in
            done += os.write(self.fd, view[done:])
        self._written += done
        if self._range_sync is not None and self._written - self._started >= WINDOW:
            self._write_behind()

    def _write_behind(self) -> None:
        fd, sync = self.fd, self._range_sync
        assert sync is not None
        if sync(fd, self._started, self._written - self._started, _WRITE) != 0:
            self._range_sync = None  # refused here: the final fsync alone
            return
        # The window before the one just started has had a window's time on its way to
        # the disk: let its pages go (any still being written stay).
        if self._previous > self._dropped:
            length = self._previous - self._dropped
            os.posix_fadvise(fd, self._dropped, length, os.POSIX_FADV_DONTNEED)
            self._dropped = self._previous
        self._previous, self._started = self._started, self._written

    def finish(self) -> None:
        """Write what is staged; then, when durable, make the file durable (``fsync``:
        contents and size). Most of it is on the device already."""
        if self._staged:
            assert self._stage is not None
            tail, self._staged = self._staged, 0
            self._buffered()  # the tail is not a whole block: through the page cache
            self._write_all(memoryview(self._stage)[:tail])
        if self.durable:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._stage is not None:
                # A view still held (by a traceback's frame) keeps the map until it goes.
                with contextlib.suppress(BufferError):
                    self._stage.close()
                self._stage = None
            os.close(self.fd)
        finally:
            super().close()


class DirectReader(io.RawIOBase):
    """Reads the file ``fd`` (which it owns and closes) from the start. A file of
    ``DIRECT_FROM`` bytes or more is read with ``O_DIRECT``, ``AHEAD`` reads of ``READ``
    bytes in flight (a pool of threads: a virtual disk, like an SSD, answers faster with
    more asked of it at once; see ``AHEAD``), into page-aligned buffers of its own; a
    smaller file, or one where ``O_DIRECT`` is refused, plainly."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._offset = 0  # of the next byte not yet in a buffer (reads are positioned)
        self._start = self._end = 0  # the unread bytes of the current buffer
        self._view: memoryview | None = None
        self._pool: Any = None
        self._pending: collections.deque[tuple[Any, mmap.mmap, int]] = collections.deque()
        self._buffers: list[mmap.mmap] = []
        size = os.fstat(fd).st_size
        # No more reads in flight than the file has: a scan of a few MiB takes one or two
        # buffers and threads, not AHEAD.
        self._ahead = min(AHEAD, -(-size // READ))
        if size >= DIRECT_FROM and _set_direct(fd, True):
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self._ahead, thread_name_prefix="veilig-read")
            self._buffers = [mmap.mmap(-1, READ) for _ in range(self._ahead + 1)]
            for buffer in self._buffers[: self._ahead]:
                self._read_ahead(buffer)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def _read_ahead(self, buffer: mmap.mmap) -> None:
        read = self._pool.submit(os.preadv, self.fd, [buffer], self._offset)
        self._pending.append((read, buffer, self._offset))
        self._offset += READ

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._start == self._end and not self._fill():
            return 0
        if self._view is None:  # plain: straight into the caller's buffer
            n = os.preadv(self.fd, [view], self._offset)
            self._offset += n
            self._start = self._end = 0
            return n
        n = min(len(view), self._end - self._start)
        view[:n] = self._view[self._start : self._start + n]
        self._start += n
        return n

    def _fill(self) -> int:
        """The next buffer read with O_DIRECT (0 at the end); ``-1`` when reading plainly."""
        if not self._pending:
            return -1 if self._pool is None else 0
        read, buffer, offset = self._pending.popleft()
        try:
            n: int = read.result()
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            self._plain_from(offset)  # refused after all: plainly, from this buffer's start
            return -1
        if n == READ:
            spare = self._buffers[(self._buffers.index(buffer) + self._ahead) % len(self._buffers)]
            self._read_ahead(spare)  # the buffer read before this one is free again
        else:
            self._end_of_reads()  # a short read: the end of the file
        self._view = memoryview(buffer)
        self._start, self._end = 0, n
        return n

    def _end_of_reads(self) -> None:
        for read, _buffer, _offset in self._pending:
            # Reads past the end (or after a refusal): not needed, but let them finish
            # before their buffers go.
            with contextlib.suppress(OSError):
                read.result()
        self._pending.clear()

    def _plain_from(self, offset: int) -> None:
        self._end_of_reads()
        self._shut()
        _set_direct(self.fd, False)
        self._offset, self._view = offset, None

    def _shut(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)  # no read into a freed buffer
            self._pool = None
        self._view = None
        for buffer in self._buffers:
            with contextlib.suppress(BufferError):  # see DurableFile.close
                buffer.close()
        self._buffers = []

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._shut()
            os.close(self.fd)
        finally:
            super().close()


def sync_directory(path: os.PathLike[str] | str) -> None:
    """Make a new name in the directory ``path`` durable (after a rename or link): the
    file's own fsync does not cover the directory entry that points at it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, AttributeError):
        return  # a platform without directory fds (Windows): nothing to sync
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
