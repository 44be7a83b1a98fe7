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
from sqlalchemy import inspect
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - the models
from storage.db import alembic_config, make_engine, upgrade
from tests.conftest import database_url
from tests.pg import MIGRATIONS_AT_ONCE, fails_on_postgresql


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


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


OPEN_WHEN_TOLD = """
import sys
from storage.db import make_engine, upgrade

engine = make_engine(sys.argv[1])
with engine.connect():
    pass  # imported and connected: only the migration is left
print("ready", flush=True)
sys.stdin.readline()
upgrade(engine)
print("migrated", flush=True)
"""


@pytest.mark.both_databases
@fails_on_postgresql(MIGRATIONS_AT_ONCE)
def test_two_processes_starting_on_a_fresh_database_both_migrate_it(tmp_path: Path) -> None:
    """Two hosts (or the desk and the outbox) start at the same moment on a database
    that nobody has set up: one migrates, the other waits and finds it done."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_WHEN_TOLD, database_url(tmp_path)],
            cwd=root,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for starter in starters:
            assert starter.stdout is not None and starter.stdout.readline().strip() == "ready"
        for starter in starters:  # both told at once
            assert starter.stdin is not None
            starter.stdin.write("go\n")
            starter.stdin.flush()
        results = [starter.communicate(timeout=120) for starter in starters]
    finally:
        for starter in starters:  # one that never got ready would wait for "go" forever
            if starter.poll() is None:
                starter.kill()
                starter.wait()
    for starter, (out, err) in zip(starters, results, strict=True):
        assert starter.returncode == 0 and out.strip() == "migrated", err[-2000:]
    engine = make_engine(database_url(tmp_path))
    assert set(inspect(engine).get_table_names()) >= set(SQLModel.metadata.tables)
    engine.dispose()
