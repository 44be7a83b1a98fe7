"""The SQL implementation of ``core.ports``: one module of queries per aggregate, composed
into one transaction, with the converters between rows and dataclasses in ``rows``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.models import Message
from core.ports import Entity
from storage.db import forget_deleted
from storage.repository.audit import AuditQueries
from storage.repository.challenges import ChallengeQueries
from storage.repository.conversations import ConversationQueries
from storage.repository.holds import HoldQueries
from storage.repository.outbox import OutboxQueries
from storage.repository.participants import ParticipantQueries
from storage.repository.rotation import RotationQueries
from storage.repository.rows import SIMPLE_ROWS
from storage.repository.search import SearchQueries
from storage.repository.staff import StaffQueries

log = logging.getLogger(__name__)


class SqlTransaction(
    StaffQueries,
    ConversationQueries,
    SearchQueries,
    ParticipantQueries,
    ChallengeQueries,
    OutboxQueries,
    AuditQueries,
    HoldQueries,
    RotationQueries,
):
    """``core.ports.Transaction`` over one SQLAlchemy session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.on_commit: list[Callable[[], None]] = []
        self.before: list[Callable[[], None]] = []

    def before_commit(self, callback: Callable[[], None]) -> None:
        self.before.append(callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.on_commit.append(callback)

    def add(self, entity: Entity) -> None:
        if isinstance(entity, Message):
            self._add_message(entity)
            return
        row_type = SIMPLE_ROWS[type(entity)]
        self.session.add(row_type(**asdict(entity)))
        self.session.flush()  # surface constraint errors here, inside the transaction


class SqlRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def forget_deleted(self) -> bool:
        return forget_deleted(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        # expire_on_commit=False: returned dataclasses are built inside, rows not reused.
        with Session(self.engine, expire_on_commit=False) as session:
            tx = SqlTransaction(session)
            with session.begin():
                yield tx
                for callback in tx.before:  # inside: a failing one rolls it all back
                    callback()
            for callback in tx.on_commit:
                try:
                    callback()
                except Exception as exc:
                    # Committed is committed: a failing hook (the audit head on a full
                    # disk) must not make the caller undo what is stored (core.store
                    # would give up the blobs of a stored message). The kind only.
                    log.error("after-commit hook failed: %s", type(exc).__name__)

    def scrub(self) -> None:
        """Leave no copy of deleted or overwritten rows in the database's files: SQLite
        zeroes what it frees (``secure_delete``, storage.db) but keeps older versions of
        pages in its write-ahead log until a checkpoint; this one writes them back and
        truncates the log. A session still reading an old snapshot keeps the log in use:
        then the rest goes at the next checkpoint. Elsewhere (PostgreSQL) old row versions
        are the server's to vacuum (docs/SECURITY.md)."""
        if self.engine.dialect.name != "sqlite":
            return
        # Outside a transaction (the driver's own connection is in autocommit: storage.db);
        # inside one, this connection would itself be a reader that keeps the log.
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.fetchall()
            cursor.close()
        finally:
            raw.close()
