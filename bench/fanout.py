"""Fan-out: notifications delivered by the real outbox to a local aiosmtpd server.

veilig: N e-mails queued in the outbox (sealed with the server secret, as in use), then
``Outbox.deliver_due`` called until nothing is pending: claim, open the sealed payload,
send over SMTP, record and audit each delivery, on a real SQLite file.

Baseline, same run, same server: a bare ``asyncio.gather`` of ``aiosmtplib.send`` of
the same N e-mails (each turned into MIME with the same ``to_mime`` as it is sent, as
the outbox must), at most ``Policy.delivery_concurrency`` at a time, the outbox's limit.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from pathlib import Path

from bench.common import Figure, Report, bench_home, interleaved, median


class _Counter:
    """An aiosmtpd handler that takes every mail and counts it."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notification(n: int):
    from core.mail import Email, new_message_id

    return Email(
        to=f"praktijk{n}@example.nl",
        subject="Een beveiligd bericht van DeclaCare",
        body="U hebt een beveiligd bericht ontvangen.\n\n    veilig open XXXX-XXXX\n" * 3,
        sender="info@declacare.nl",
        message_id=new_message_id("info@declacare.nl"),
    )


def bare_send(port: int, n: int, concurrency: int) -> float:
    """Seconds for a bare ``asyncio.gather`` of ``aiosmtplib.send`` of ``n`` mails, at
    most ``concurrency`` at a time (the baseline of the outbox)."""
    import aiosmtplib

    from core.transports import to_mime

    emails = [notification(i) for i in range(n)]
    start = time.perf_counter()

    async def send_all() -> None:
        limit = asyncio.Semaphore(concurrency)

        async def one(email) -> None:
            async with limit:
                # The MIME message is built per send, as the outbox must too.
                await aiosmtplib.send(to_mime(email), hostname="127.0.0.1", port=port, timeout=30)

        await asyncio.gather(*(one(e) for e in emails))

    asyncio.run(send_all())
    return time.perf_counter() - start


def run(report: Report, quick: bool, work: Path) -> None:
    from aiosmtpd.controller import Controller

    from core.policy import DEFAULT_POLICY
    from tui.factory import make_context

    n = 20 if quick else 1_000
    policy = DEFAULT_POLICY.with_cheap_kdf()
    concurrency = getattr(policy, "delivery_concurrency", 1)
    handler = _Counter()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    url = f"smtp://127.0.0.1:{port}"
    homes = iter(range(100))
    try:

        def outbox() -> float:
            home = work / f"home{next(homes)}"
            settings, _totp = bench_home(home, policy, smtp_url=url)
            ctx = make_context(settings, policy=policy)
            with ctx.repo.transaction() as tx:
                for i in range(n):
                    ctx.outbox.enqueue_email(tx, notification(i))
            before = handler.count
            start = time.perf_counter()

            async def drain() -> None:
                while (await ctx.outbox.deliver_due()).pending:
                    pass

            asyncio.run(drain())
            seconds = time.perf_counter() - start
            assert handler.count - before == n, "not every notification arrived"
            return seconds

        def bare() -> float:
            before = handler.count
            seconds = bare_send(port, n, concurrency)
            assert handler.count - before == n
            return seconds

        results = interleaved({"outbox": outbox, "bare": bare}, 1 if quick else 3, self_timed=True)
    finally:
        controller.stop()
    t = {k: median(v) for k, v in results.items()}
    ours, base = n / t["outbox"], n / t["bare"]
    report.add(
        Figure(
            "fanout",
            f"{n:,} notifications by the outbox to aiosmtpd (concurrency {concurrency})",
            ours,
            "mails/s",
            f"bare aiosmtplib gather ({concurrency} at a time)",
            base,
            target="≥ 0.50×",
            met=ours / base >= 0.5,
        )
    )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="veilig-bench-") as tmp:
        run(Report(), "--quick" in sys.argv, Path(tmp))
