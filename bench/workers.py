"""Outbox workers: notifications per second with one worker and with two, on SQLite and
on PostgreSQL beside it (``bench.engines``), each delivered exactly once.

One office per run: host A's home is initialised, host B's has the same ``server.key``;
both use the one database and one shared folder (``VEILIG_SHARED``: the audit head),
as with several hosts (README). N notifications (1,000) are queued in one transaction.
Then one or two worker *processes* (one per host, as two hosts would run ``veilig
outbox``) each build their context, say they are ready and wait; on "go" each calls
``Outbox.deliver_due`` once (what ``veilig outbox`` calls each round: waves of
``Policy.delivery_concurrency`` claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
one writer at a time on SQLite) and reports what it sent. Timed from "go" until every
worker has exited. The mail goes to a real aiosmtpd on 127.0.0.1, which keeps each
Message-ID: every run checks that each queued notification arrived exactly once.

Baselines in the same run, interleaved: one worker on SQLite against a bare
``aiosmtplib`` gather of the same mails (``bench.fanout``); two workers against one
worker on the same database; one PostgreSQL worker against one SQLite worker.
"""

from __future__ import annotations

import asyncio
import email.parser
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import Figure, Report, bench_home, interleaved, median
from bench.engines import SQLITE, Database, databases
from bench.fanout import bare_send, free_port, notification


class _Arrivals:
    """An aiosmtpd handler that keeps the Message-ID of every mail it takes."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        headers = email.parser.BytesHeaderParser().parsebytes(envelope.original_content)
        with self.lock:
            self.ids.append(str(headers["Message-ID"]))
        return "250 OK"

    def take(self) -> list[str]:
        with self.lock:
            taken, self.ids = self.ids, []
        return taken


class _Office:
    """Two hosts' homes on one database (host A initialised, host B with its
    ``server.key``), one shared folder; ``queue(n)`` puts ``n`` notifications in."""

    def __init__(self, work: Path, database: Database, smtp_url: str) -> None:
        from core.policy import DEFAULT_POLICY
        from tui.factory import make_context

        policy = DEFAULT_POLICY.with_cheap_kdf()
        shared = work / "shared"
        shared.mkdir(parents=True, mode=0o700)
        url = database.url(work)
        a, b = work / "host-a", work / "host-b"
        settings, _totp = bench_home(a, policy, smtp_url, database_url=url, shared=shared)
        b.mkdir(mode=0o700)
        shutil.copy2(a / "server.key", b / "server.key")
        self.ctx = make_context(settings, policy=policy)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
        env |= {"VEILIG_DATABASE_URL": url, "VEILIG_SHARED": str(shared)}
        env |= {"VEILIG_SMTP_URL": smtp_url}
        self.hosts = [env | {"VEILIG_HOME": str(home)} for home in (a, b)]

    def queue(self, n: int) -> set[str]:
        """The sent rows of the run before go (not timed: each run starts alike), then
        ``n`` notifications in one transaction; their Message-IDs."""
        from sqlalchemy import delete

        from storage.tables import OutboxRow

        with self.ctx.repo.engine.begin() as conn:
            conn.execute(delete(OutboxRow.__table__))
        queued = set()
        with self.ctx.repo.transaction() as tx:
            for i in range(n):
                mail = notification(i)
                queued.add(mail.message_id)
                self.ctx.outbox.enqueue_email(tx, mail)
        return queued


def _deliver(
    hosts: list[dict], workers: int, arrivals: _Arrivals, queued: set[str], split: list
) -> float:
    """Start ``workers`` processes (host a, host b), let them go at once; the seconds
    until each has said what it sent (added to ``split``). Checks exactly-once delivery."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.workers", "worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for env in hosts[:workers]
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready", "no worker"
    start = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    # Until each has said what it sent (not until its interpreter has exited).
    reports = [json.loads(p.stdout.readline() or "{}") for p in procs]  # type: ignore[union-attr]
    seconds = time.perf_counter() - start
    for p in procs:
        p.communicate(timeout=60)
    assert all(p.returncode == 0 for p in procs) and all(reports), reports
    arrived = arrivals.take()
    assert len(arrived) == len(set(arrived)), "a notification arrived twice"
    assert set(arrived) == queued, f"{len(queued - set(arrived))} notifications missing"
    assert sum(r["sent"] for r in reports) == len(queued), reports
    split.append([r["sent"] for r in reports])
    return seconds


def _worker() -> int:
    """One host's worker: its context, "ready", then on "go" one ``deliver_due``."""
    from core.config import Settings
    from tui.factory import make_context

    ctx = make_context(Settings.from_env())
    with ctx.repo.transaction() as tx:  # connected before the clock starts
        tx.count_pending_outbox()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    report = asyncio.run(ctx.outbox.deliver_due())
    print(json.dumps({"sent": report.sent, "failed": report.failed}), flush=True)
    return 0


def run(report: Report, quick: bool, work: Path) -> None:
    from aiosmtpd.controller import Controller

    from core.policy import DEFAULT_POLICY

    n = 20 if quick else 1_000
    concurrency = DEFAULT_POLICY.delivery_concurrency
    arrivals = _Arrivals()
    port = free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=port)
    controller.start()
    smtp_url = f"smtp://127.0.0.1:{port}"
    try:
        with databases(report) as found:
            offices = [_Office(work / d.label.lower(), d, smtp_url) for d in found]

            splits: dict[str, list] = {d.label: [] for d in found}

            def deliver(office: _Office, workers: int, split: list):
                return lambda: _deliver(office.hosts, workers, arrivals, office.queue(n), split)

            def bare() -> float:
                seconds = bare_send(port, n, concurrency)
                assert len(set(arrivals.take())) == n
                return seconds

            runs = {"bare": bare}
            for database, office in zip(found, offices, strict=True):
                runs[f"{database.label} 1"] = deliver(office, 1, [])
                runs[f"{database.label} 2"] = deliver(office, 2, splits[database.label])
            try:
                results = interleaved(runs, 1 if quick else 3, self_timed=True)
            finally:
                for office in offices:
                    office.ctx.repo.engine.dispose()  # before the server stops
            labels = [d.label for d in found]
    finally:
        controller.stop()
    t = {k: median(v) for k, v in results.items()}
    for label, split in splits.items():
        shares = ", ".join("/".join(str(s) for s in one) for one in split)
        report.note(f"two workers on {label}: host A/host B sent {shares} (each run)")
    rate = {k: n / v for k, v in t.items()}
    bare_label = f"bare aiosmtplib gather ({concurrency} at a time)"
    for label in labels:
        for workers in (1, 2):
            if workers == 2:
                base, base_label = rate[f"{label} 1"], f"one worker, {label}"
            elif label == SQLITE:
                base, base_label = rate["bare"], bare_label
            else:
                base, base_label = rate[f"{SQLITE} 1"], f"one worker, {SQLITE}"
            report.add(
                Figure(
                    "workers",
                    f"{n:,} notifications, {workers} outbox worker process"
                    f"{'es' if workers > 1 else ''} ({label}), each exactly once",
                    rate[f"{label} {workers}"],
                    "mails/s",
                    base_label,
                    base,
                )
            )


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        sys.exit(_worker())
    import tempfile

    with tempfile.TemporaryDirectory(prefix="veilig-bench-") as tmp:
        run(Report(), "--quick" in sys.argv, Path(tmp))
