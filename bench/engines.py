"""The databases a benchmark measures side by side: SQLite always, PostgreSQL where its
server binaries are installed.

PostgreSQL runs as a throwaway private cluster (``tests/pg_server.py``, the one the tests
start: a Unix socket in a 0700 temporary folder, as an unprivileged user when run as
root), but *durable* here: fsync, synchronous commit and full-page writes on, its
defaults, so a commit waits for the disk as SQLite's does and the two are compared like
with like. Each home gets a fresh database (``CREATE DATABASE``); the server stops and
its folder goes at the end of the benchmark. With PostgreSQL the sealed files are still
files: each home's ``VEILIG_SHARED`` folder (README "Several hosts"), so a PostgreSQL
home measures rows in the server and files on the disk.

Where the server binaries are missing (or the server cannot start), the PostgreSQL
figures are skipped and the run says so once, with how to install it, like the age
baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, Report

SQLITE, POSTGRES = "SQLite", "PostgreSQL"


@dataclass(frozen=True)
class Database:
    """One engine: ``url(home)`` makes a fresh, empty database for a home in ``home``."""

    label: str
    url: Callable[[Path], str]

    @property
    def shared(self) -> bool:
        """Whether homes keep their sealed files in a shared folder (several hosts)."""
        return self.label == POSTGRES


def _sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'veilig.db'}"


@contextmanager
def databases(report: Report, *, postgres: bool = True) -> Iterator[list[Database]]:
    """SQLite, and PostgreSQL after it where it can be had (``postgres=False``: SQLite
    only). The PostgreSQL server lives as long as the ``with``."""
    found = [Database(SQLITE, _sqlite_url)]
    server = _start(report) if postgres else None
    try:
        if server is not None:
            found.append(Database(POSTGRES, lambda _home: server.url(server.create_database())))
        yield found
    finally:
        if server is not None:
            server.stop()


def _start(report: Report):  # -> PostgresServer | None
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.pg_server import Unavailable, server_binaries, start_server

    if server_binaries() is None:
        report.skip(POSTGRES)
        return None
    try:
        return start_server(durable=True)
    except (Unavailable, RuntimeError, OSError) as exc:
        report.skip(POSTGRES, str(exc).splitlines()[0])
        return None


def database_bytes(engine) -> int:
    """The size of a home's database: the SQLite file (and its WAL), or PostgreSQL's
    ``pg_database_size``."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())
    path = Path(engine.url.database)
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
