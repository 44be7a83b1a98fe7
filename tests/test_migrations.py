"""Alembic: head matches the models; every revision goes up and down."""

from __future__ import annotations

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
