"""Mailbox key rotation: every wrapped key of 100,000 messages moved to a new key pair.

The rows are generated quickly, but every wrap the rotation reads is real: each
message has a content key HPKE-wrapped to the mailbox key under its format-2 binding
and a real origin tag; each participant (one per two messages) a real thread-key wrap.
Bodies are not sealed: a rotation never reads them (it re-wraps keys, not content).

veilig: ``Admin.rotate`` as ``veilig mailbox rotate`` runs it, start to finish (the start
transaction, every batch with its cursor, the end and the scrub), on a real SQLite
file. Baseline, same run: the crypto alone, in memory: the same number of HPKE
unwraps with the old key and wraps to a new one, in a bare loop. The ratio says what
the database, the origin tags, the checks and the resumability cost on top.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from bench.common import BENCH_PASSWORD, Figure, Report, bench_home, interleaved, median


def generate(ctx, n: int, participants: int | None = None) -> None:
    """``n`` messages and ``participants`` participants (default n // 2) with real wraps
    to the home's mailbox key, inserted in bulk (conversations of one message each)."""
    from datetime import timedelta

    from sqlalchemy import insert

    from core import labels
    from core.context import require_organisation
    from core.models import Direction, Message, Method
    from core.pins import sealing_key, sign_origin
    from core.sealing import content_binding
    from storage.tables import ConversationRow, MessageRow, ParticipantRow

    participants = n // 2 if participants is None else participants
    with ctx.repo.transaction() as tx:
        _org, mailbox = require_organisation(tx)
    public = sealing_key(ctx.secret, mailbox)
    start = ctx.clock() - timedelta(days=365)
    conversations, messages, people = [], [], []
    for i in range(n):
        at = start + timedelta(seconds=i)
        cid = secrets.token_hex(16)
        direction = Direction.INBOUND if i % 2 else Direction.OUTBOUND
        message = Message(
            conversation_id=cid,
            direction=direction,
            wrapped_key=b"",
            created_at=at,
            author_id=None if i % 2 else "staff",
        )
        message.wrapped_key = public.wrap(secrets.token_bytes(32), content_binding(message))
        sign_origin(ctx.secret, message)
        conversations.append(
            dict(id=cid, mailbox_id=mailbox.id, unread=False, created_at=at, last_message_at=at)
        )
        messages.append(
            dict(
                id=message.id,
                conversation_id=cid,
                direction=direction.value,
                wrapped_key=message.wrapped_key,
                attachment_count=0,
                author_id=message.author_id,
                created_at=at,
                binding_format=2,
                origin_mac=message.origin_mac,
            )
        )
        if i < participants:
            pid = secrets.token_hex(16)
            people.append(
                dict(
                    id=pid,
                    conversation_id=cid,
                    contact_sealed=b"",
                    thread_key_wrapped=public.wrap(secrets.token_bytes(32), labels.thread_key(pid)),
                    method=Method.SMS.value,
                    language="nl",
                    created_at=at,
                    expires_at=at + timedelta(days=14),
                    code_failures=0,
                )
            )
    with ctx.repo.engine.begin() as conn:
        for table, rows in (
            (ConversationRow, conversations),
            (MessageRow, messages),
            (ParticipantRow, people),
        ):
            for k in range(0, len(rows), 5000):
                conn.execute(insert(table.__table__), rows[k : k + 5000])


def _bare(keys: int) -> float:
    """The crypto of a rotation alone: unwrap with the old key, wrap to the new one."""
    from core.keys import MailboxPrivateKey

    old, new = MailboxPrivateKey.generate(), MailboxPrivateKey.generate()
    binding = b"veilig/bench"
    wrapped = [old.public_key().wrap(secrets.token_bytes(32), binding) for _ in range(keys)]
    to = new.public_key()
    start = time.perf_counter()
    for item in wrapped:
        to.wrap(old.unwrap(item, binding), binding)
    return time.perf_counter() - start


def run(report: Report, quick: bool, work: Path) -> None:
    from core.clock import FrozenClock
    from core.policy import DEFAULT_POLICY
    from core.staff import authorise
    from tui.factory import make_context

    n = 400 if quick else 100_000
    keys = n + n // 2
    policy = DEFAULT_POLICY.with_cheap_kdf()  # the log-in is not what is measured
    settings, totp = bench_home(work / "home", policy)
    clock = FrozenClock()
    ctx = make_context(settings, policy=policy, clock=clock)
    start = time.perf_counter()
    generate(ctx, n)
    report.note(
        f"generated {n:,} messages and {n // 2:,} participants in "
        f"{time.perf_counter() - start:.1f} s"
    )

    def rotate() -> float:
        clock.advance(seconds=30)  # a fresh TOTP step for each rotation's log-in
        admin = authorise(ctx, "desk@declacare.nl", BENCH_PASSWORD, totp.at(clock.now))
        began = time.perf_counter()
        finished = admin.rotate(lambda started: None)
        assert finished.messages == n and finished.damaged == 0, finished
        return time.perf_counter() - began

    # Bare crypto on a sample of the same keys: a full 150,000 in memory adds nothing.
    sample = min(keys, 20_000)
    times = interleaved(
        {"veilig": rotate, "bare": lambda: _bare(sample) * keys / sample},
        1 if not quick else 2,
        self_timed=True,
    )
    veilig, bare = keys / median(times["veilig"]), keys / median(times["bare"])
    report.add(
        Figure(
            "rotation",
            f"mailbox rotation, {n:,} messages and {n // 2:,} participants (keys/s)",
            veilig,
            "keys/s",
            "bare HPKE unwrap + wrap",
            bare,
            target="—",
            note=f"{n:,} messages in {median(times['veilig']):.1f} s",
        )
    )
