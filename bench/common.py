"""What every benchmark shares: interleaved timing, medians, ratios and the table.

No benchmark asserts a wall-clock time. Each one measures veilig and its baselines in
the same run, repetitions interleaved (a, b, c, a, b, c, …) so that a noisy neighbour
hurts all of them alike, and reports the median and the ratio against the baseline.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The staff password of the throwaway homes the benchmarks make and remove.
BENCH_PASSWORD = "correct horse battery staple"  # noqa: S105


def bench_home(
    home: Path,
    policy,
    smtp_url: str | None = None,
    *,
    database_url: str | None = None,
    shared: Path | None = None,
):
    """A throwaway initialised home: (settings, the TOTP of its one staff member). Its
    database is a SQLite file in the home unless ``database_url`` names another (an
    empty PostgreSQL database, ``bench.engines``); ``shared`` is VEILIG_SHARED."""
    import pyotp

    from core.config import Settings
    from tui.factory import init_home

    settings = Settings(
        home=home,
        database_url=database_url or f"sqlite:///{home / 'veilig.db'}",
        smtp_url=smtp_url,
        shared=shared,
    )
    result = init_home(
        settings,
        org_name="DeclaCare",
        mailbox="info@declacare.nl",
        staff_email="desk@declacare.nl",
        password=BENCH_PASSWORD,
        policy=policy,
    )
    return settings, pyotp.TOTP(result.totp_secret)


@dataclass
class Figure:
    """One measured figure: veilig against a baseline from the same run."""

    bench: str
    what: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    # "higher" when more is better (throughput), "lower" when less is (seconds, MiB).
    better: str = "higher"
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value  # type: ignore[operator]

    def row(self) -> list[str]:
        ratio = f"{self.ratio:.2f}×" if self.ratio is not None else "—"
        base = (
            f"{self.baseline} {fmt(self.baseline_value)} {self.unit}"
            if self.baseline_value is not None
            else self.baseline or "—"
        )
        met = {True: "met", False: "MISSED", None: "—"}[self.met]
        return [self.what, f"{fmt(self.value)} {self.unit}", base, ratio, self.target or "—", met]


# Tools outside Python that some baselines use. Each is optional: where one is missing,
# its baseline is skipped and the run says so once, with how to install it.
OPTIONAL_TOOLS = {
    "age": "the age baseline (seal/open against `age -e`/`age -d`)",
    "GNU time": "the peak memory of age and cp (`/usr/bin/time -f %M`)",
    "PostgreSQL": "every figure on PostgreSQL (the desk at scale, the seal and open with "
    "rows, the outbox workers; bench.engines)",
}
INSTALL_HINT = {
    "age": "apt-get install age (Debian/Ubuntu), brew install age (macOS); "
    "see https://age-encryption.org",
    "GNU time": "apt-get install time (Debian/Ubuntu)",
    "PostgreSQL": "apt-get install postgresql (Debian/Ubuntu: the server binaries; "
    "the benchmark starts its own throwaway server, VEILIG_PG_BINDIR names another)",
}


def find_age() -> tuple[str, str] | None:
    """``age`` and ``age-keygen`` on PATH, or None."""
    age, keygen = shutil.which("age"), shutil.which("age-keygen")
    return (age, keygen) if age and keygen else None


def find_gnu_time() -> str | None:
    """GNU time on PATH (not the shell's keyword, which has no ``-f``), or None."""
    path = shutil.which("time")
    if path and "GNU" in _run([path, "--version"], both=True):
        return path
    return None


def missing_tools() -> list[str]:
    found = {"age": find_age() is not None, "GNU time": find_gnu_time() is not None}
    return [tool for tool, present in found.items() if not present]


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # Query plans by what they explain (bench.plans): in the JSON only.
    plans: dict[str, str] = field(default_factory=dict)

    def skip(self, tool: str, why: str = "") -> None:
        """Say once that the figures needing ``tool`` are left out, why and how to get it."""
        if any(line.startswith(f"{tool} is not") for line in self.skipped):
            return  # said already in this run
        state = f"not available ({why})" if why else "not installed"
        text = (
            f"{tool} is {state}, so {OPTIONAL_TOOLS[tool]} is skipped. "
            f"To include it: {INSTALL_HINT[tool]}"
        )
        self.skipped.append(text)
        print(f"skipped: {text}", flush=True)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print("  " + " | ".join(figure.row()), flush=True)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def interleaved(
    runs: dict[str, Callable[[], object]], repeat: int, *, self_timed: bool = False
) -> dict[str, list[float]]:
    """Call each function ``repeat`` times, in turn (a, b, a, b, …). The call is timed
    here, or, with ``self_timed``, each function returns its own seconds."""
    results: dict[str, list[float]] = {name: [] for name in runs}
    for _round in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            measured = run()
            elapsed = time.perf_counter() - start
            results[name].append(float(measured) if self_timed else elapsed)  # type: ignore[arg-type]
    return results


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(figures: list[Figure]) -> str:
    """The figures as a Markdown table (also what PERFORMANCE.md shows)."""
    head = ["figure", "veilig", "baseline (same run)", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(f.row()) + " |" for f in figures]
    return "\n".join(lines)


def _run(cmd: list[str], *, both: bool = False) -> str:
    """What ``cmd`` printed (with ``both``, stdout and stderr together); "" if it failed."""
    try:
        done = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if both else subprocess.DEVNULL,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def machine() -> dict[str, str]:
    """The machine the figures ran on, and how busy it was."""
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    model = ""
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        mem = f"{kib / 1024**2:.1f} GiB"
    except OSError:
        pass
    disk = shutil.disk_usage(ROOT)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": model or platform.processor(),
        "cores": str(os.cpu_count()),
        "ram": mem,
        "disk": f"{disk.free / 1024**3:.0f} GiB free of {disk.total / 1024**3:.0f} GiB"
        + (f" ({_run(['findmnt', '-no', 'SOURCE,FSTYPE', '-T', str(ROOT)])})"),
        "python": sys.version.split()[0],
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "load": _run(["uptime"]),
    }


def save_json(path: Path, report: Report, info: dict[str, str]) -> None:
    data = {
        "machine": info,
        "figures": [asdict(f) | {"ratio": f.ratio} for f in report.figures],
        "notes": report.notes,
        "skipped": report.skipped,
        "plans": report.plans,
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
