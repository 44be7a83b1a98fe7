"""Shared fixtures: a real home in tmp_path, a real SMTP server on 127.0.0.1, and the
database each home uses: SQLite, or PostgreSQL too for the tests marked ``both_databases``."""

from __future__ import annotations

import email
import os
import queue
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyotp
import pytest
from aiosmtpd.controller import Controller

from core.config import Settings
from core.policy import DEFAULT_POLICY, Policy
from core.setup import InitResult
from tests import cli_runner  # noqa: F401  # now: its zygote gets the worker's environment, no test's
from tui.factory import init_home

if TYPE_CHECKING:
    from sqlalchemy import Connection

pytest_plugins = ["tests.pg"]  # the throwaway PostgreSQL server's fixture

STAFF_EMAIL = "desk@declacare.nl"
STAFF_PASSWORD = "correct horse battery staple"
MAILBOX = "info@declacare.nl"


def pytest_configure(config: pytest.Config) -> None:
    from tests.pg import missing_reason, required, server_binaries

    if required() and server_binaries() is None:
        raise pytest.UsageError(f"VEILIG_REQUIRE_POSTGRES=1, but PostgreSQL has {missing_reason()}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_databases`` run twice, ``[sqlite]`` and ``[postgresql]``; an
    ``pg_xfail(reason=…, raises=…)`` mark expects a failure on PostgreSQL only,
    strict unless it says ``strict=False`` (a race that only sometimes loses): the fix
    that makes it pass removes the mark."""
    if metafunc.definition.get_closest_marker("both_databases") is None:
        return
    known = metafunc.definition.get_closest_marker("pg_xfail")
    marks = [pytest.mark.xfail(**{"strict": True, **known.kwargs})] if known else []
    # The PostgreSQL run is in the full suite, not in the quick loop (`-m "not slow"`):
    # it starts a server and doubles the test; the SQLite run covers the logic there.
    marks.append(pytest.mark.slow)
    metafunc.parametrize(
        "database", ["sqlite", pytest.param("postgresql", marks=marks)], indirect=True
    )


@pytest.fixture(autouse=True)
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The engine under this test's homes: "sqlite" (each home's own file) by default,
    "postgresql" (a fresh database on the throwaway server, tests/pg.py) for the second
    run of a ``both_databases`` test. It is passed on as the contract's
    ``VEILIG_DATABASE_URL``, so processes the test starts (the CLI, scripts that call
    ``make_settings``) use the same database; never one from the developer's shell."""
    from tests.pg import postgres_database

    engine = getattr(request, "param", "sqlite")
    if engine == "sqlite":
        monkeypatch.delenv("VEILIG_DATABASE_URL", raising=False)
        yield engine
        return
    with postgres_database(request) as url:
        monkeypatch.setenv("VEILIG_DATABASE_URL", url)
        yield engine


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One SQLite database brought to head by the real migrations, once per test
    process, and its revision: what every new home's database would become."""
    import sqlite3

    from storage.db import make_engine, upgrade

    path = tmp_path_factory.mktemp("migrated") / "veilig.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    with sqlite3.connect(path) as db:  # everything in the file itself, no -wal beside it
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        [(revision,)] = db.execute("SELECT version_num FROM alembic_version").fetchall()
    return path, revision


def _sqlite_revision(path: Path) -> str | None:
    import sqlite3
    from urllib.parse import quote

    db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return rows[0][0] if len(rows) == 1 else None


@pytest.fixture(autouse=True)
def migrate_from_template(
    request: pytest.FixtureRequest, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every migration on every new home costs ~0.5 s, and a test makes one or more
    homes: here a new SQLite home's database starts as a copy of ``migrated_template``
    (the same migrations' result on an empty database: none of them adds rows of its
    own), and a database already at that head skips Alembic's no-op check. Anything
    else (an old revision, a file that is no database) goes through the real upgrade.
    The migrations themselves: tests/test_migrations.py and tests/test_upgrade.py,
    which call them directly; a test that needs them to run on its homes says
    ``@pytest.mark.every_migration``. PostgreSQL and processes a test starts (the CLI)
    always run them."""
    if database != "sqlite" or request.node.get_closest_marker("every_migration"):
        return
    import shutil

    import storage.db

    template, head = request.getfixturevalue("migrated_template")
    real_upgrade = storage.db.upgrade

    def upgrade(engine: Any, secret: Any = None) -> None:
        name = engine.url.database if engine.dialect.name == "sqlite" else None
        if name and name != ":memory:":
            path = Path(name)
            if not path.exists() or path.stat().st_size == 0:
                if path.parent.is_dir():
                    shutil.copyfile(template, path)
            if path.exists() and _sqlite_revision(path) == head:
                return
        real_upgrade(engine, secret)

    monkeypatch.setattr(storage.db, "upgrade", upgrade)


def database_url(home: Path) -> str:
    """The database of a home in this test: PostgreSQL's when the test runs on it."""
    return os.environ.get("VEILIG_DATABASE_URL") or f"sqlite:///{home / 'veilig.db'}"


@contextmanager
def raw_database(home: Path) -> Iterator[Connection]:
    """The home's database without the application, in one transaction: what someone
    with write access to it can do, on either engine."""
    from sqlalchemy import create_engine

    engine = create_engine(database_url(home))
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def all_rows(home: Path) -> bytes:
    """Every row of every table of a PostgreSQL home, as the binary COPY format writes
    them: text as UTF-8 and bytes as they are, so a plaintext in any column shows."""
    with raw_database(home) as db:
        tables = (
            db.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            .scalars()
            .all()
        )
        cursor = db.connection.driver_connection.cursor()  # psycopg's, for COPY
        rows = bytearray()
        for table in tables:
            with cursor.copy(f'COPY "{table}" TO STDOUT (FORMAT binary)') as copy:
                for chunk in copy:
                    rows += chunk
    return bytes(rows)


@pytest.fixture
def clock():
    """Time that moves only when a test says so (lifetimes, windows, TOTP steps)."""
    from core.clock import FrozenClock

    return FrozenClock()


@pytest.fixture
def policy() -> Policy:
    # The real Argon2id costs 64 MiB and ~0.3 s per derivation; tests only need it to work.
    return DEFAULT_POLICY.with_cheap_kdf()


@dataclass
class Mailbag:
    """What the SMTP server received, as a queue that tests wait on (never sleep on)."""

    received: queue.Queue[Message] = field(default_factory=queue.Queue)
    all: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content)
        self.all.append(message)
        self.received.put(message)
        return "250 OK"

    def next(self, timeout: float = 15.0) -> Message:
        return self.received.get(timeout=timeout)

    def next_to(self, address: str, subject_contains: str = "", timeout: float = 15.0) -> Message:
        """The next mail to ``address``. Mails to others stay unread, in the queue: the
        outbox sends several at once, so mails to different people arrive in any order."""
        import time

        passed: list[Message] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                message = self.next(max(deadline - time.monotonic(), 0.0))
                if message["To"] == address and subject_contains in (message["Subject"] or ""):
                    return message
                passed.append(message)
        finally:
            for message in passed:
                self.received.put(message)


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def code_in(message: Message) -> str:
    match = re.search(r"^\s+(\d{6})\s*$", body_of(message), re.MULTILINE)
    assert match, "no code in the e-mail"
    return match.group(1)


def delivered_code(ctx, home: Path, to: str) -> str:
    """Deliver the outbox to the Maildir and read the one new code for ``to``, as the
    guest's mail program would (reading moves the mail from new/ to cur/)."""
    import asyncio
    import mailbox

    asyncio.run(ctx.outbox.deliver_due())
    folder = maildir_of(home)
    box = mailbox.Maildir(folder, create=False)
    new = folder / "new"
    unread = [k for k in box.keys() if (new / k).exists() and box[k]["To"] == to]
    assert len(unread) == 1, f"expected one new mail to {to}, found {len(unread)}"
    message = box[unread[0]]
    (new / unread[0]).rename(folder / "cur" / f"{unread[0]}:2,S")
    return code_in(message)


def maildir_of(home: Path) -> Path:
    """Where the embedded default delivers mail for ``home`` (outside it: core.config)."""
    return make_settings(home).maildir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """A real aiosmtpd server on loopback, startable later in a test (SMTP-down cases)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bag = Mailbag()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.bag, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down() -> Iterator[SmtpServer]:
    """A port where nothing listens yet; ``start()`` brings the server up."""
    server = SmtpServer(free_port())
    yield server
    server.stop()


def make_settings(home: Path, smtp_url: str | None = None, sms_url: str | None = None) -> Settings:
    return Settings(
        home=home,
        database_url=database_url(home),
        smtp_url=smtp_url,
        sms_url=sms_url,
    )


@pytest.fixture
def initialised(tmp_path: Path, policy: Policy) -> tuple[Path, InitResult]:
    """An initialised home: organisation DeclaCare, one staff member."""
    path = tmp_path / "home"
    result = init_home(
        make_settings(path),
        org_name="DeclaCare",
        mailbox=MAILBOX,
        staff_email=STAFF_EMAIL,
        password=STAFF_PASSWORD,
        policy=policy,
    )
    return path, result


@pytest.fixture
def home(initialised: tuple[Path, InitResult]) -> Path:
    return initialised[0]


@pytest.fixture
def totp(initialised: tuple[Path, InitResult]) -> pyotp.TOTP:
    """The staff member's authenticator app."""
    return pyotp.TOTP(initialised[1].totp_secret)


class SmsGateway:
    """A real HTTP server on 127.0.0.1 that takes SMS as the contract's JSON, or as
    Twilio's Messages API does (form fields, basic auth); tests wait on ``next()``."""

    def __init__(self) -> None:
        import json
        import threading
        import urllib.parse
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: queue.Queue[dict[str, str]] = queue.Queue()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's hook name
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path.endswith("/Messages.json"):
                    form = urllib.parse.parse_qs(raw.decode())
                    message = {
                        "to": form["To"][0],
                        "body": form["Body"][0],
                        "from": form["From"][0],
                        "auth": self.headers.get("Authorization", ""),
                        "path": self.path,
                    }
                    status = 201
                else:
                    message = json.loads(raw)
                    status = 200
                gateway.received.put(message)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll: shutdown() waits for the serving loop to look (0.5 s by default).
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def next(self, timeout: float = 15.0) -> dict[str, str]:
        return self.received.get(timeout=timeout)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway()
    yield gateway
    gateway.stop()


@pytest.fixture
def wired_ctx(home: Path, policy: Policy, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway):
    """The core over the home, with real SMTP and a real SMS gateway on loopback."""
    from tui.factory import make_context

    settings = make_settings(home, smtp_server.url, sms_gateway.url)
    return make_context(settings, policy=policy, clock=clock)


def deliver(ctx) -> None:
    """Deliver what the outbox holds now, as `veilig outbox` would."""
    import asyncio

    asyncio.run(ctx.outbox.deliver_due())


def sms_code(message: dict[str, str]) -> str:
    match = re.match(r"(\d{6}) ", message["body"])
    assert match, message["body"]
    return match.group(1)


def reference_in(message: Message) -> str:
    match = re.search(r"veilig open ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){7,8})", body_of(message))
    assert match, "no reference in the notification"
    return match.group(1)


@pytest.fixture
def language(request) -> Iterator[str]:
    """The language of the process for one test (parametrise with indirect=True)."""
    from core.i18n import use_language

    chosen = getattr(request, "param", "en")
    use_language(chosen)
    yield chosen
    use_language("en")


def said(template: str, **values: object) -> str:
    """The start of a translated sentence, short enough to sit on one screen line."""
    from core.i18n import _

    return _(template).format(**values)[:24]


def staff_desk(ctx, totp: pyotp.TOTP):
    """The staff member logged in (password + TOTP): the mailbox key unlocked."""
    from core.desk import Desk

    return Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(ctx.clock()))


def only_message(desk):
    """The one stored message, opened: (OpenedMessage, content key)."""
    [row] = desk.inbox()
    [(opened, key)] = desk.thread(row.conversation.id).messages
    return opened, key
