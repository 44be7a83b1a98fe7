"""The test harness's databases: a fresh one per test on each engine, and a PostgreSQL
server that is private to the tests (tests/pg.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import database_url
from tests.pg import PostgresServer


@pytest.mark.both_databases
@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_with_an_empty_database(tmp_path: Path, database: str, run: int) -> None:
    url = database_url(tmp_path)
    assert url.startswith(database)
    assert os.environ.get("VEILIG_DATABASE_URL", url) == url  # what processes it starts see
    engine = create_engine(url)
    assert inspect(engine).get_table_names() == []
    with engine.begin() as connection:  # left behind on purpose: the next run must not see it
        connection.execute(text("CREATE TABLE left_behind (n INTEGER)"))
    engine.dispose()


def test_the_server_listens_on_its_own_socket_only(postgres_server: PostgresServer) -> None:
    with postgres_server.connect("postgres") as connection:
        settings = dict(connection.execute("SELECT name, setting FROM pg_settings").fetchall())
    assert settings["listen_addresses"] == ""  # no TCP at all
    assert settings["unix_socket_directories"] == str(postgres_server.root)
    assert oct(postgres_server.root.stat().st_mode & 0o777) == "0o700"
    # Never root's: as root, initdb and the server run as an unprivileged user.
    assert postgres_server.data.stat().st_uid != 0


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *args],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # two pytest runs
def test_without_a_server_the_postgresql_half_skips_saying_so_unless_required(
    tmp_path: Path,
) -> None:
    one = f"{Path(__file__).name}::test_each_test_starts_with_an_empty_database"
    nowhere = str(tmp_path / "no-postgresql")
    skipped = run_pytest(f"tests/{one}", VEILIG_PG_BINDIR=nowhere, VEILIG_REQUIRE_POSTGRES="")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "2 passed, 2 skipped" in skipped.stdout
    assert f"PostgreSQL: no server binaries (initdb, postgres) in {nowhere}" in skipped.stdout

    required = run_pytest(f"tests/{one}", VEILIG_PG_BINDIR=nowhere, VEILIG_REQUIRE_POSTGRES="1")
    assert required.returncode != 0
    assert "VEILIG_REQUIRE_POSTGRES=1, but PostgreSQL has no server binaries" in (
        required.stdout + required.stderr
    )
