"""Alembic: head matches the models; every revision goes up and down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - the models
from storage.db import alembic_config, make_engine, upgrade
from tests.conftest import database_url


@pytest.mark.both_databases
def test_upgrade_head_on_an_empty_database_matches_the_models(tmp_path: Path) -> None:
    engine = make_engine(database_url(tmp_path))
    upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) >= set(SQLModel.metadata.tables)


@pytest.mark.both_databases
def test_each_revision_goes_up_and_down(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    config = alembic_config(url)
    revisions = list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))
    assert revisions, "no migrations"
    for revision in revisions:
        command.upgrade(config, revision.revision)
    command.downgrade(config, "base")
    assert set(inspect(make_engine(url)).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")


@pytest.mark.every_migration
def test_the_tests_migrated_template_is_what_the_migrations_make_of_a_new_home(
    tmp_path: Path, migrated_template: tuple[Path, str]
) -> None:
    """New SQLite homes in the tests start as a copy of one migrated database
    (tests/conftest.py migrate_from_template): the same schema, the same rows (none but
    alembic_version) and the same head as the migrations give a new home of its own. A
    migration that seeds rows of its own, different per home, fails here."""
    import sqlite3

    template, head = migrated_template
    fresh = tmp_path / "veilig.db"
    engine = make_engine(f"sqlite:///{fresh}")
    upgrade(engine)
    engine.dispose()

    def everything(path: Path) -> tuple[list[tuple[str, str, str]], dict[str, list[tuple]]]:
        with sqlite3.connect(path) as db:
            schema = sorted(db.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
            tables = [name for kind, name, _sql in schema if kind == "table"]
            return schema, {t: db.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}

    schema, rows = everything(fresh)
    assert len(schema) > 20 and rows["alembic_version"] == [(head,)]
    assert {t: r for t, r in rows.items() if r and t != "alembic_version"} == {}
    assert everything(template) == (schema, rows)
    revision = ScriptDirectory.from_config(alembic_config(f"sqlite:///{fresh}")).get_current_head()
    assert head == revision


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


OPEN_WHEN_TOLD = """
import sys
from sqlalchemy import event
from storage.db import make_engine, upgrade

engine = make_engine(sys.argv[1])
hold = sys.argv[2] == "hold"


@event.listens_for(engine, "after_cursor_execute")
def hold_after_the_first_create(conn, cursor, statement, *args):
    global hold
    if hold and statement.lstrip().upper().startswith("CREATE TABLE"):
        hold = False
        print("created", flush=True)  # mid-migration, nothing committed yet
        sys.stdin.readline()


with engine.connect():
    pass  # imported and connected: only the migration is left
print("ready", flush=True)
sys.stdin.readline()
upgrade(engine)
print("migrated", flush=True)
"""


def told(starter: subprocess.Popen[str], line: str = "go") -> None:
    assert starter.stdin is not None
    starter.stdin.write(line + "\n")
    starter.stdin.flush()


def said(starter: subprocess.Popen[str]) -> str:
    assert starter.stdout is not None
    return starter.stdout.readline().strip()


def wait_for_a_lock_wait(url: str, timeout: float = 30.0) -> None:
    """Until some session waits for a lock (PostgreSQL): the second migration is stuck
    behind the first one. Bounded; the server has no event to wait on for this."""
    import time

    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as connection:
            while time.monotonic() < deadline:
                waiting = connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted"
                ).scalar()
                connection.rollback()
                if waiting:
                    return
                time.sleep(0.01)
    finally:
        engine.dispose()
    raise AssertionError("the second migration never waited for the first")


@pytest.mark.both_databases
def test_two_processes_starting_on_a_fresh_database_both_migrate_it(
    tmp_path: Path, database: str
) -> None:
    """Two hosts (or the desk and the outbox) start at the same moment on a database
    that nobody has set up: one migrates, the other waits and finds it done. Made to
    happen every time: the first holds after its first CREATE until the second waits."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    url = database_url(tmp_path)
    first, second = starters = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_WHEN_TOLD, url, role],
            cwd=root,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for role in ("hold", "go")
    ]
    try:
        assert [said(first), said(second)] == ["ready", "ready"]
        told(first)
        assert said(first) == "created"  # inside its migration's transaction
        told(second)
        if database == "postgresql":  # SQLite: BEGIN IMMEDIATE makes it wait anyway
            wait_for_a_lock_wait(url)
        told(first)  # go on, and commit
        results = [starter.communicate(timeout=120) for starter in starters]
    finally:
        for starter in starters:  # one that never got ready would wait for "go" forever
            if starter.poll() is None:
                starter.kill()
                starter.wait()
    for starter, (out, err) in zip(starters, results, strict=True):
        assert starter.returncode == 0 and out.strip() == "migrated", err[-2000:]
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) >= set(SQLModel.metadata.tables)
    engine.dispose()


@pytest.mark.every_migration
def test_the_head_by_file_name_is_alembics_head_and_a_database_at_head_skips_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``upgrade`` sees a database at head by one query, reading the head from the file
    that sorts last; a new migration whose file does not sort last (or a branch) would
    make that wrong, and this test fail."""
    import alembic.command

    from storage.db import head_revision

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [head_revision()]
    engine = make_engine(f"sqlite:///{tmp_path / 'at-head.db'}")
    upgrade(engine)  # a new database: Alembic runs
    ran: list[str] = []
    monkeypatch.setattr(alembic.command, "upgrade", lambda *a, **k: ran.append("upgrade"))
    upgrade(engine)
    assert ran == []
    with engine.begin() as db:  # one revision behind: Alembic is asked again
        db.execute(text("UPDATE alembic_version SET version_num = '0006_staff_lifecycle'"))
    upgrade(engine)
    assert ran == ["upgrade"]
    engine.dispose()
