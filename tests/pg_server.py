"""A throwaway PostgreSQL server in a temporary directory, for the tests (tests/pg.py)
and the benchmarks (bench/), with no pytest in it.

Where the server binaries are installed (Debian's ``postgresql`` package: ``initdb`` and
``postgres`` under ``pg_config --bindir`` or ``/usr/lib/postgresql/*/bin``):

- ``initdb`` and ``postgres`` refuse to run as root, so as root they run as an unprivileged
  user (``postgres`` where it exists, else ``nobody``) that owns the directory;
- the server listens only on a Unix socket inside that directory (mode 0700): nothing on
  the network, no other user of the machine can connect, trust authentication is safe;
- fsync and synchronous commit are off unless ``durable`` (the benchmarks);
- it is ready when it logs so (read from its stderr, an event, not a guess), bounded in
  time; ``create_database()`` makes a fresh one, ``drop_database()`` drops it ``WITH
  (FORCE)`` (a killed process's connections do not keep it);
- ``stop()`` stops the server and removes the directory.

``VEILIG_PG_BINDIR`` names the binaries' directory instead of searching (a PostgreSQL
installed elsewhere). Where the server cannot be had, :class:`Unavailable` says why.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

BINDIR = "VEILIG_PG_BINDIR"
READY = "database system is ready to accept connections"
PORT = 5432  # names the socket file only: the socket lives in the cluster's own directory
SUPERUSER = "postgres"


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def server_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: ``VEILIG_PG_BINDIR`` where set
    (a PostgreSQL installed elsewhere), else found, the newest version first."""
    if BINDIR in os.environ:
        candidates = [Path(os.environ[BINDIR])]
    else:
        candidates = _debian_bindirs()
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return bindir
    return None


def _debian_bindirs() -> list[Path]:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        # Debian's pg_config (libpq-dev) may name a version whose server is not installed.
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path))

    candidates += [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version)[::-1]
    ]
    return candidates


def missing_reason() -> str:
    where = os.environ.get(BINDIR) or "`pg_config --bindir` or /usr/lib/postgresql/*/bin"
    return (
        f"no server binaries (initdb, postgres) in {where}; "
        "install Debian's `postgresql` to run these tests on it"
    )


def _unprivileged_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


class PostgresServer:
    """One private cluster: ``start()``, ``create_database()``/``drop_database()``, ``stop()``."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="veilig-pg-"))  # short: socket paths are
        self.data = self.root / "data"
        self.log: list[str] = []
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._as: dict[str, Any] = {}
        self._names = itertools.count(1)
        self._admin: Any = None

    def _run_as(self) -> None:
        """As root, everything the server writes belongs to an unprivileged user."""
        if os.geteuid() != 0:
            return
        user = _unprivileged_user()
        if user is None:
            raise Unavailable(
                "running as root and there is no `postgres` or `nobody` user to run as"
            )
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60.0) -> None:
        os.chmod(self.root, 0o700)
        self._run_as()
        initdb = subprocess.run(
            [
                str(self.bindir / "initdb"),
                *("-D", str(self.data), "-U", SUPERUSER, "--auth=trust"),
                *("--no-sync", "--no-locale", "--encoding=UTF8"),
            ],
            cwd=self.root,
            capture_output=True,
            text=True,
            **self._as,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        on_off = "on" if self.durable else "off"
        settings = {
            "listen_addresses": "",  # the Unix socket only
            "unix_socket_directories": str(self.root),
            "port": str(PORT),
            # Off for the tests (the cluster is thrown away, speed is what counts); on,
            # PostgreSQL's defaults, where ``durable`` (the benchmarks: a commit is on disk
            # as with SQLite's, so the two are compared like with like).
            "fsync": on_off,
            "synchronous_commit": on_off,
            "full_page_writes": on_off,
            "max_connections": "200",  # 12 threads each with its own engine and pool
            "lc_messages": "C",  # READY is matched in English
            # Where the offices are: a server in UTC would hide values that come back in
            # the session's time zone (aware, but not UTC).
            "timezone": "Europe/Amsterdam",
            # A safety net, not a limit any test should reach: a lock wait that never
            # ends becomes an error in the test that waits, instead of a hung run.
            "lock_timeout": "60s",
        }
        options = [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]
        self._process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data), *options],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            **self._as,
        )
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._ready.wait(timeout) or self._process.poll() is not None:
            self.stop()
            raise RuntimeError("PostgreSQL did not start:\n" + "\n".join(self.log[-30:]))
        self._admin = self.connect("postgres")

    def _read_log(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:  # until the server exits
            self.log.append(line.rstrip())
            if READY in line:
                self._ready.set()
        self._ready.set()  # it exited: stop waiting, start() reports the log

    def connect(self, dbname: str) -> Any:
        import psycopg

        return psycopg.connect(
            host=str(self.root), port=PORT, user=SUPERUSER, dbname=dbname, autocommit=True
        )

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{dbname}?host={self.root}&port={PORT}"

    def create_database(self) -> str:
        """A fresh, empty database; its name."""
        name = f"veilig_{os.getpid()}_{next(self._names)}"
        self._admin.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: connections the test left open (pools, a killed process's) end here.
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: ends sessions, no waiting
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(*, durable: bool = False) -> PostgresServer:
    """A started private cluster, or :class:`Unavailable` saying why there is none."""
    bindir = server_binaries()
    if bindir is None:
        raise Unavailable(missing_reason())
    server = PostgresServer(bindir, durable=durable)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
