"""Encrypted blobs as files: ``blobs/ab/abcdef…``, directories 0700, files 0600.

A blob is written to a temporary name, fsynced, and renamed into place (and the rename
made durable with an fsync of its directory): after a crash or a full disk there is
either the whole blob or none, never half of one. While it is written it goes to the
disk already (``core.directio``: O_DIRECT, or write-behind), so the fsync at the end
has little left to wait for.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from core.directio import DirectReader, DurableFile, sync_directory
from core.errors import CannotOpen


class FileBlobStore:
    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        # False: the same writes without the fsyncs (of the blob and of its folder). Only
        # to measure what they cost (bench/attachments.py); a store in use is durable.
        self.durable = durable

    def _path(self, blob_id: str) -> Path:
        if len(blob_id) != 32 or not all(c in "0123456789abcdef" for c in blob_id):
            raise ValueError("not a blob id")  # ids are ours; anything else is an attack
        return self.root / blob_id[:2] / blob_id

    @contextmanager
    def create(self) -> Iterator[tuple[str, BinaryIO]]:
        blob_id = secrets.token_hex(16)
        final = self._path(blob_id)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        tmp = final.with_name(f".{blob_id}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with DurableFile(fd, durable=self.durable) as sink:
                yield blob_id, sink  # type: ignore[misc]  # a raw file: BinaryIO enough
                sink.finish()
            os.replace(tmp, final)
            if self.durable:
                sync_directory(final.parent)
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def open(self, blob_id: str) -> Iterator[BinaryIO]:
        # A blob deleted or an id altered in the database is damage like any other:
        # the one domain error, not a crash with a path in it.
        try:
            fd = os.open(self._path(blob_id), os.O_RDONLY)
        except (FileNotFoundError, ValueError):
            raise CannotOpen("blob missing") from None
        # Attachments are read with O_DIRECT (core.directio), metas and bodies plainly.
        with DirectReader(fd) as f:
            yield f  # type: ignore[misc]  # a raw file: BinaryIO enough

    def delete(self, blob_id: str) -> None:
        self._path(blob_id).unlink(missing_ok=True)

    def sweep(self, keep: set[str], written_before: datetime) -> int:
        cutoff = written_before.timestamp()
        gone = 0
        if not self.root.exists():
            return 0
        for path in self.root.glob("??/*"):
            blob_id = path.name.removeprefix(".").removesuffix(".tmp")
            unfinished = path.name.startswith(".")
            try:
                if (unfinished or blob_id not in keep) and path.stat().st_mtime < cutoff:
                    path.unlink()
                    gone += 1
            except FileNotFoundError:
                continue  # another sweeper was first
        return gone

    def ids(self) -> Iterator[str]:
        if self.root.exists():
            for path in self.root.glob("??/*"):
                if not path.name.startswith("."):
                    yield path.name
