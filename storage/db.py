"""The engine: SQLite with WAL and foreign keys, or any SQLAlchemy URL; migrations to head."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

    from core.server_secret import ServerSecret

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    is_sqlite = url.startswith("sqlite")
    options: dict[str, Any] = {}
    if is_sqlite:
        # Several processes (desk, starter, outbox) share one file: wait for a lock
        # instead of failing at once.
        options["connect_args"] = {"timeout": 30}
    elif url.startswith("postgresql"):
        # A server restarted or failed over in the meantime: test a pooled connection
        # before handing it out, rather than fail the person's action on a dead one.
        options["pool_pre_ping"] = True
        options["connect_args"] = {"connect_timeout": 10, "application_name": "veilig"}
    engine = create_engine(
        url,
        # SQL errors would otherwise quote bound values (tags, ciphertext) in tracebacks.
        hide_parameters=True,
        **options,
    )
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
    return engine


def _begin_immediate(connection: Connection) -> None:
    # Take the write lock when a transaction starts, not at its first write: two
    # processes that read, then write, would otherwise fail with "database is locked"
    # (SQLITE_BUSY_SNAPSHOT) instead of waiting their turn under the busy timeout.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:  # DB-API: untyped
    # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed message survives power loss
    # Deleted and overwritten rows are zeroed in their pages, not left in free space: a
    # purged conversation's wrapped keys and sealed contact details (issue 18; the WAL
    # is truncated after a purge, see forget_deleted), a removed staff member's wrap, an
    # old mailbox key's wraps (issue 14; SqlRepository.scrub).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def forget_deleted(engine: Engine) -> bool:
    """After a purge, leave no copy of deleted rows in SQLite's files: ``secure_delete``
    has zeroed them in the pages as they went, and here the write-ahead log, which still
    holds older images of those pages, is checkpointed into the database and truncated
    to nothing. False when a reader kept it from finishing (the next purge tries again).

    Other databases keep their own dead rows until they reuse the space (PostgreSQL's
    VACUUM): there, what is left are wrapped keys and sealed records whose ciphertext
    (the blobs) is gone (docs/SECURITY.md)."""
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        # Outside any transaction (the connection is in autocommit: _sqlite_pragmas).
        busy, _log_frames, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        raw.close()
    return bool(busy == 0)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision, without loading Alembic: the migrations' files sort in the
    order they chain (0001_…, 0002_…), and the last one's ``revision`` is the head
    (tests/test_migrations.py holds this against Alembic's own graph)."""
    newest = max((MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    found = _REVISION.search(newest.read_text(encoding="utf-8"))
    if found is None:  # a damaged install: let Alembic's own check say what is wrong
        return ""
    return found.group(1)


_REVISION = re.compile(r"""^revision(?:: *str)? *= *["']([^"']+)["']""", re.MULTILINE)


def _at_head(connection: Connection) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return list(found) == [head_revision()]


def upgrade(engine: Engine, secret: ServerSecret | None = None) -> None:
    """Bring the schema to the newest revision (idempotent). Some revisions re-seal
    existing rows in a new format and need ``secret`` (the home's server.key) for that.
    A database at head (every start but the first after an upgrade) is seen by one
    query; Alembic (~0.3 s of imports) loads only when there is something to do."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two hosts (or the desk and the outbox) starting on a new database at once:
            # the second waits here, then finds the schema at head. DDL is transactional
            # in PostgreSQL, so it sees all of the first one's migration or none.
            # (SQLite: BEGIN IMMEDIATE already makes it wait.)
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended('veilig:migrations', 0))")
            )
        if _at_head(connection):
            return
        from alembic import command

        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        config.attributes["server_secret"] = secret
        command.upgrade(config, "head")
