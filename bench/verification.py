"""Verification: one-time codes checked per second, staff log-ins per second.

Codes: ``CodeIssuer.check`` with the real server secret on a real SQLite file, each
check in its own transaction as the starter and recipient screens do (look up,
compare keyed tags in constant time, consume atomically). Baseline in the same run:
the keyed tag and the constant-time compare alone, without the database.

Log-ins: ``Desk.login`` with the real policy (Argon2id per RFC 9106's second
recommended option, plus TOTP with replay prevention and the throttling bookkeeping).
Baseline in the same run: the Argon2id derivation alone with the same parameters.
"""

from __future__ import annotations

import hmac
import sys
from pathlib import Path

from bench.common import BENCH_PASSWORD, Figure, Report, bench_home, interleaved, median


def run(report: Report, quick: bool, work: Path) -> None:
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    from core.clock import FrozenClock
    from core.desk import Desk
    from core.models import Purpose
    from core.policy import DEFAULT_POLICY
    from tui.factory import make_context

    policy = DEFAULT_POLICY  # the real Argon2id cost
    home = work / "verify"
    password = BENCH_PASSWORD
    settings, totp = bench_home(home, policy)
    clock = FrozenClock()
    ctx = make_context(settings, policy=policy, clock=clock)

    # --- codes ---------------------------------------------------------------------------
    n = 20 if quick else 1_000
    codes = ctx.codes
    with ctx.repo.transaction() as tx:
        issued = [codes.issue(tx, Purpose.STARTER, f"guest{i}@example.nl") for i in range(n)]
    pending = iter(issued)

    def check_one() -> None:
        code = next(pending)
        with ctx.repo.transaction() as tx:
            codes.check(tx, code.challenge.id, code.code)

    def tag_only() -> None:
        code = issued[0]
        candidate = codes._code_tag(code.challenge.id, code.challenge.purpose, code.code)
        hmac.compare_digest(candidate, code.challenge.code_tag)

    t = interleaved({"check": check_one, "tag": tag_only}, n)
    report.add(
        Figure(
            "verification",
            "one-time codes checked (and consumed), each in its own transaction",
            1 / median(t["check"]),
            "codes/s",
            "keyed tag + compare alone",
            1 / median(t["tag"]),
        )
    )

    # --- log-ins -------------------------------------------------------------------------
    cost = policy.argon2

    def login() -> None:
        clock.advance(seconds=policy.totp_interval_seconds)  # each code is accepted once
        Desk.login(ctx, "desk@declacare.nl", password, totp.at(clock()))

    def kdf() -> None:
        Argon2id(
            salt=b"0123456789abcdef",
            length=32,
            iterations=cost.iterations,
            lanes=cost.lanes,
            memory_cost=cost.memory_kib,
        ).derive(password.encode())

    t = interleaved({"login": login, "kdf": kdf}, 1 if quick else 10)
    report.add(
        Figure(
            "verification",
            f"staff log-ins (Argon2id t={cost.iterations}, m={cost.memory_kib // 1024} MiB, "
            f"p={cost.lanes}; TOTP)",
            1 / median(t["login"]),
            "log-ins/s",
            "Argon2id alone",
            1 / median(t["kdf"]),
        )
    )
    report.note(
        f"one Argon2id derivation: {median(t['kdf']) * 1000:.0f} ms; "
        f"one log-in: {median(t['login']) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="veilig-bench-") as tmp:
        run(Report(), "--quick" in sys.argv, Path(tmp))
