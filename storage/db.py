"""The engine: SQLite with WAL and foreign keys, or any SQLAlchemy URL; migrations to head."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import create_engine

if TYPE_CHECKING:
    from core.server_secret import ServerSecret

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(
        url,
        # SQL errors would otherwise quote bound values (tags, ciphertext) in tracebacks.
        hide_parameters=True,
        # Several processes (desk, starter, outbox) share one file: wait for a lock
        # instead of failing at once.
        connect_args={"timeout": 30} if is_sqlite else {},
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
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, secret: ServerSecret | None = None) -> None:
    """Bring the schema to the newest revision (idempotent). Some revisions re-seal
    existing rows in a new format and need ``secret`` (the home's server.key) for that."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["server_secret"] = secret
        command.upgrade(config, "head")
