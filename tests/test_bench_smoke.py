"""The benchmark command runs end to end on tiny sizes and prints a ratio per benchmark.

Timings are never asserted here (the machine is shared); only that every benchmark
measured itself against its baseline in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_prints_a_ratio_for_each_benchmark(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--work", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for bench_row in (
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
        "one-time codes checked",
        "staff log-ins",
    ):
        matching = [r for r in rows if bench_row in r]
        assert matching, f"no row for {bench_row!r} in:\n{result.stdout}"
        assert any("×" in r for r in matching), matching  # a ratio against a baseline
    assert not list(tmp_path.iterdir())  # every temporary home and file was removed
