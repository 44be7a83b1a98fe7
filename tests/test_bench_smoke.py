"""The benchmark command runs end to end on tiny sizes and prints a ratio per benchmark.

Timings are never asserted here (the machine is shared); only that every benchmark
measured itself against its baseline in the same run — with the optional tools (``age``,
GNU ``time``, PostgreSQL's server) present, and with them hidden, as on a fresh machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg_server import server_binaries

pytestmark = pytest.mark.slow  # runs the benchmarks twice

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL_TOOLS = ("age", "age-keygen", "time")

BENCH_ROWS = (
    "framing in memory, seal",
    "seal 4 MiB",
    "open 4 MiB",
    "peak memory",
    "veilig start: first question",
    "veilig open: first question",
    "veilig desk: first question",
    "inbox screen, first rows",
    "inbox screen, one page down",
    "notifications by the outbox",
    "Desk.send_new: rows + sealed files (SQLite)",
    "Desk.thread + save_attachment: rows + sealed files (SQLite)",
    "1 outbox worker process (SQLite), each exactly once",
    "2 outbox worker processes (SQLite), each exactly once",
    "one-time codes checked",
    "staff log-ins",
    "mailbox rotation",
)
# Where PostgreSQL's server is installed: the same figures on it, beside SQLite's.
POSTGRES_ROWS = (
    "inbox screen, first rows (300 conversations, PostgreSQL",
    "inbox screen, one page down (300 conversations, PostgreSQL)",
    "match, PostgreSQL): results on screen",
    "Desk.inbox(), page 1 (300 conversations, PostgreSQL)",
    "Desk.inbox(offset=50), page 2 (300 conversations, PostgreSQL)",
    "Desk.search('jansen') (300 conversations, PostgreSQL)",
    "Desk.send_new: rows + sealed files (PostgreSQL)",
    "Desk.thread + save_attachment: rows + sealed files (PostgreSQL)",
    "1 outbox worker process (PostgreSQL), each exactly once",
    "2 outbox worker processes (PostgreSQL), each exactly once",
)


def path_without(tools: tuple[str, ...], folder: Path) -> str:
    """A PATH with every command of today's PATH but ``tools``: links in one folder."""
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            target = Path(directory, name)
            link = folder / name
            if name in tools or link.exists() or not os.access(target, os.X_OK):
                continue
            link.symlink_to(target)
    return str(folder)


def quick_bench(work: Path, path: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    env["PATH"] = path
    env |= extra
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--work", str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def table_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("| ")]


def assert_a_ratio_for_each_benchmark(output: str, expected: tuple[str, ...] = BENCH_ROWS) -> None:
    rows = table_rows(output)
    for bench_row in expected:
        matching = [r for r in rows if bench_row in r]
        assert matching, f"no row for {bench_row!r} in:\n{output}"
        assert all("×" in r for r in matching), matching  # a ratio against a baseline


def test_without_age_gnu_time_and_postgresql_every_row_has_a_ratio_and_each_skip_is_said_once(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    path = path_without(OPTIONAL_TOOLS, tmp_path / "bin")
    assert not any(shutil.which(tool, path=path) for tool in OPTIONAL_TOOLS)
    nowhere = str(tmp_path / "no-postgresql")  # no initdb, no postgres there

    result = quick_bench(work, path, VEILIG_PG_BINDIR=nowhere)

    assert_a_ratio_for_each_benchmark(result.stdout)
    # No baseline names age (as a word: "the inbox's first page" is not age).
    baselines = [row.split("|")[3] for row in table_rows(result.stdout)]
    assert not [b for b in baselines if re.search(r"\bage\b", b)], baselines
    said = [line for line in result.stdout.splitlines() if "age is not installed" in line]
    assert len(said) == 1, said
    assert "baseline" in said[0] and "apt-get install age" in said[0]
    assert sum("GNU time is not installed" in line for line in result.stdout.splitlines()) == 1
    # Without PostgreSQL: said once (desk, stored and workers each wanted it), how to get
    # it, and not one PostgreSQL figure.
    said = [line for line in result.stdout.splitlines() if "PostgreSQL is not installed" in line]
    assert len(said) == 1, said
    assert "apt-get install postgresql" in said[0]
    assert not [r for r in table_rows(result.stdout) if "PostgreSQL" in r]
    assert not list(work.iterdir())  # every temporary home and file was removed


@pytest.mark.skipif(
    shutil.which("age") is None or shutil.which("time") is None,
    reason="age or GNU time is not installed (apt-get install age time; .ci/run installs both)",
)
def test_with_age_every_row_has_a_ratio_and_age_is_a_baseline(tmp_path: Path) -> None:
    result = quick_bench(tmp_path, os.environ["PATH"])

    assert_a_ratio_for_each_benchmark(result.stdout)
    if server_binaries() is not None:  # .ci/run installs it: the figures beside SQLite's
        assert_a_ratio_for_each_benchmark(result.stdout, POSTGRES_ROWS)
        assert "PostgreSQL is not" not in result.stdout
    rows = table_rows(result.stdout)
    assert any("age -e" in r and "×" in r for r in rows if r.startswith("| seal 4 MiB"))
    assert any("age -d" in r and "×" in r for r in rows if r.startswith("| open 4 MiB"))
    assert any("peak memory against age" in r and "×" in r for r in rows)
    assert "age is not installed" not in result.stdout
    assert "GNU time is not installed" not in result.stdout
    assert not list(tmp_path.iterdir())
