"""Files that reach the disk while they are written: write-behind, then a short fsync.

Writing a whole file and then calling ``fsync`` waits twice: first for every byte to be
copied into the page cache, then for all of them to reach the disk. ``DurableFile``
sends each window to the disk as soon as it is written, so that when the last byte is
written only the last window or two are still on their way, and ``sync`` (the fsync
that makes the file durable) is short.

On Linux, after each ``WINDOW`` bytes:

- ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` starts writeback of the window just
  written and returns at once;
- the window before it is waited for (``WAIT_BEFORE | WRITE | WAIT_AFTER``) and dropped
  from the page cache (``posix_fadvise(DONTNEED)``). Its pages are then used again for
  the next windows: the page cache holds about two windows of the file, not all of it,
  and new pages are not taken from memory the host may have to fault in first (see
  docs/PERFORMANCE.md, *Attachments*).

``sync_file_range`` alone is no durability guarantee (no metadata, no flush of the
disk's cache): the ``fsync`` in ``sync`` is, as everywhere else. Write-behind only makes
it short. Where ``sync_file_range`` is missing (not Linux) or refused (a file system
without it), writes are plain and ``sync`` does all the work, as before.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

WINDOW = 8 * 1024 * 1024  # bytes: large enough for the disk to merge, small for the cache

_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4  # SYNC_FILE_RANGE_* of <fcntl.h>

_sync_file_range: Callable[[int, int, int, int], int] | None = None
_looked_up = False


def _range_syncer() -> Callable[[int, int, int, int], int] | None:
    """libc's ``sync_file_range`` (Python's os module has none), looked up once, on the
    first durable file (ctypes is not imported before it is needed)."""
    global _sync_file_range, _looked_up
    if not _looked_up:
        _looked_up = True
        try:
            import ctypes

            function = ctypes.CDLL(None, use_errno=True).sync_file_range
        except (OSError, AttributeError):
            return None  # not Linux: the final fsync alone
        # ctypes releases the GIL during the call: the other threads go on meanwhile.
        function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        function.restype = ctypes.c_int
        _sync_file_range = function
    return _sync_file_range


class DurableFile(io.RawIOBase):
    """A file being written through ``fd`` (which it owns and closes), made durable by
    ``sync`` with write-behind as it goes (see the module docstring). With ``durable``
    false, plain writes and no fsync: only to measure what durability costs."""

    def __init__(self, fd: int, *, durable: bool = True) -> None:
        self.fd = fd
        self.durable = durable
        self.written = 0
        self._started = 0  # writeback started up to here
        self._dropped = 0  # on disk and out of the page cache up to here
        self._range_sync = _range_syncer() if durable else None

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def tell(self) -> int:
        return self.written

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):  # a short write only where a signal came in
            done += os.write(self.fd, view[done:])
        self.written += done
        if self._range_sync is not None and self.written - self._started >= WINDOW:
            self._write_behind()
        return done

    def _write_behind(self) -> None:
        fd, sync = self.fd, self._range_sync
        assert sync is not None
        if sync(fd, self._started, self.written - self._started, _WRITE) != 0:
            self._range_sync = None  # refused here (not a regular file system): fsync alone
            return
        if self._started - self._dropped >= WINDOW:
            # The window before the one just started: wait until it is on its way to the
            # disk, then let its pages go, to be reused by the next windows.
            waited = sync(
                fd,
                self._dropped,
                self._started - self._dropped,
                _WAIT_BEFORE | _WRITE | _WAIT_AFTER,
            )
            if waited == 0:
                os.posix_fadvise(
                    fd, self._dropped, self._started - self._dropped, os.POSIX_FADV_DONTNEED
                )
                self._dropped = self._started
        self._started = self.written

    def sync(self) -> None:
        """Make the file durable (contents and size): ``fsync``. Most of it is on the disk
        already; what is left was written in the last window or two."""
        if not self.durable:
            return
        os.fsync(self.fd)
        if self._range_sync is not None:  # all clean now: the rest of the cache goes too
            os.posix_fadvise(self.fd, self._dropped, 0, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self.fd)
            finally:
                super().close()


def sync_directory(path: os.PathLike[str] | str) -> None:
    """Make a new name in the directory ``path`` durable (after a rename or link): the
    file's own fsync does not cover the directory entry that points at it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # a platform without directory fds (Windows): nothing to sync
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
