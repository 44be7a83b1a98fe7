"""Desk at scale: the inbox with 100,000 conversations against an empty inbox.

The conversations are generated quickly, but every row the inbox reads is real:

- the newest 1,000 are conversations of the starter (flow 1): a guest's message sealed
  for real with ``seal_message`` (HPKE to the mailbox key, meta and body streams in the
  blob store), so the inbox opens their meta to learn who wrote;
- the other 99,000 are flow-2 conversations (staff to an outside person): a participant
  whose contact is sealed for real with the server secret (which the inbox unseals),
  and one outbound message row of the real shape (a wrapped key of the real length,
  meta and body items) whose blobs the inbox never opens, exactly as for real rows.

Timed under Textual's ``run_test`` (the real ``InboxScreen`` in the real app, 120x40):
the inbox screen to its first rows, and one page down; plus the core calls behind them
(``Desk.inbox`` for page 1, page 2 and a page deep down).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from bench.common import BENCH_PASSWORD, Figure, Report, bench_home, interleaved, median


def _home(path: Path, policy):

    from core.clock import FrozenClock
    from tui.factory import make_context

    settings, totp = bench_home(path, policy)
    clock = FrozenClock()
    ctx = make_context(settings, policy=policy, clock=clock)
    return ctx, clock, totp


def _login(ctx, clock, totp):
    from core.desk import Desk

    clock.advance(seconds=30)  # a fresh TOTP step: a code is accepted only once
    return Desk.login(ctx, "desk@declacare.nl", BENCH_PASSWORD, totp.at(clock()))


def generate(ctx, n: int, real: int) -> None:
    """``n`` conversations: the newest ``real`` from guests (sealed for real), the rest
    flow-2 conversations inserted in bulk."""
    from sqlalchemy import insert

    from core.contact import Contact
    from core.context import require_organisation
    from core.models import Conversation, Direction, Message, Method
    from core.pins import sealing_key, sign_origin
    from core.sealing import Draft, Sender, seal_message
    from storage.tables import ConversationRow, MessageItemRow, MessageRow, ParticipantRow

    with ctx.repo.transaction() as tx:
        _org, mailbox = require_organisation(tx)
    public = sealing_key(ctx.secret, mailbox)
    start = ctx.clock() - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / max(n, 1)
    bulk = n - real
    wrapped_len = 1168  # an HPKE-wrapped key of ML-KEM-768 + X25519 (see core.keys)
    conversations, participants, messages, items = [], [], [], []
    for i in range(bulk):
        at = start + step * i
        cid, pid, mid = (secrets.token_hex(16) for _ in range(3))
        contact = Contact(email=f"praktijk{i}@example.nl", phone="+31612345678", name=f"P {i}")
        conversations.append(
            dict(id=cid, mailbox_id=mailbox.id, unread=False, created_at=at, last_message_at=at)
        )
        participants.append(
            dict(
                id=pid,
                conversation_id=cid,
                contact_sealed=contact.seal(
                    ctx.secret, pid, method=Method.SMS, conversation_id=cid
                ),
                thread_key_wrapped=os.urandom(wrapped_len),
                method=Method.SMS.value,
                language="nl",
                created_at=at,
                expires_at=at + timedelta(days=14),
                code_failures=0,
            )
        )
        messages.append(
            dict(
                id=mid,
                conversation_id=cid,
                direction=Direction.OUTBOUND.value,
                wrapped_key=os.urandom(wrapped_len),
                attachment_count=i % 3,
                created_at=at,
                binding_format=2,
                origin_mac=b"",  # never opened: the inbox names them by their participant
            )
        )
        for role, size in (("meta", 250), ("body", 1200)):
            items.append(
                dict(
                    message_id=mid,
                    role=role,
                    position=0,
                    blob_id=secrets.token_hex(16),
                    sealed_size=size,
                )
            )
    engine = ctx.repo.engine
    with engine.begin() as conn:
        for table, rows in (
            (ConversationRow, conversations),
            (ParticipantRow, participants),
            (MessageRow, messages),
            (MessageItemRow, items),
        ):
            for k in range(0, len(rows), 5000):
                conn.execute(insert(table.__table__), rows[k : k + 5000])

    blobs = _NoSyncBlobs(ctx.blobs.root)
    for i in range(real):
        at = start + step * (bulk + i)
        conversation = Conversation(
            mailbox_id=mailbox.id, created_at=at, last_message_at=at, unread=i % 2 == 0
        )
        message = Message(
            conversation_id=conversation.id,
            direction=Direction.INBOUND,
            wrapped_key=b"",
            created_at=at,
        )
        seal_message(
            blobs=blobs,
            mailbox_key=public,
            message=message,
            sender=Sender(f"Guest {i}", f"guest{i}@example.nl"),
            draft=Draft(f"Subject {i}", "A message body of a few lines.\n" * 5),
        )
        sign_origin(ctx.secret, message)  # as core.store does
        with ctx.repo.transaction() as tx:
            tx.add(conversation)
            tx.add(message)


class _NoSyncBlobs:
    """The real blob store's layout and format, without an fsync per blob: generating
    test data only (the timed inbox reads through the real ``FileBlobStore``)."""

    def __init__(self, root: Path) -> None:
        from storage.blobs import FileBlobStore

        self.store = FileBlobStore(root)

    @contextmanager
    def create(self):
        blob_id = secrets.token_hex(16)
        path = self.store._path(blob_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with path.open("wb") as sink:
            yield blob_id, sink

    def delete(self, blob_id: str) -> None:
        self.store.delete(blob_id)


async def _screen(desk) -> tuple[float, float, int]:
    """Seconds to the inbox's first rows, seconds for one page down, rows shown."""
    from textual.widgets import DataTable

    from tui.app import VeiligApp
    from tui.desk.inbox import InboxScreen

    app = VeiligApp(desk.ctx, InboxScreen(desk))
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = time.perf_counter() - start
        table = app.screen.query_one("#inbox", DataTable)
        rows = table.row_count
        start = time.perf_counter()
        await pilot.press("pagedown")
        await pilot.pause()
        scrolled = time.perf_counter() - start
    return shown, scrolled, rows


def run(report: Report, quick: bool, work: Path) -> None:
    from core.policy import DEFAULT_POLICY

    n = 300 if quick else 100_000
    real = 60 if quick else 1_000
    # The log-in is not what is measured here: a cheap KDF keeps set-up short.
    policy = DEFAULT_POLICY.with_cheap_kdf()
    full_ctx, full_clock, full_totp = _home(work / "full", policy)
    empty_ctx, empty_clock, empty_totp = _home(work / "empty", policy)
    start = time.perf_counter()
    generate(full_ctx, n, real)
    report.note(f"generated {n:,} conversations in {time.perf_counter() - start:.1f} s")
    full = _login(full_ctx, full_clock, full_totp)
    empty = _login(empty_ctx, empty_clock, empty_totp)

    screens: dict[str, list[tuple[float, float, int]]] = {"full": [], "empty": []}

    def screen(which: str) -> float:
        result = asyncio.run(_screen(full if which == "full" else empty))
        screens[which].append(result)
        return result[0]

    repeat = 1 if quick else 5
    if not quick:  # one warm-up each (imports, page cache), not counted
        asyncio.run(_screen(full))
        asyncio.run(_screen(empty))
    interleaved({"full": lambda: screen("full"), "empty": lambda: screen("empty")}, repeat)
    rows = screens["full"][0][2]
    first = {k: median([s[0] for s in v]) for k, v in screens.items()}
    scroll = {k: median([s[1] for s in v]) for k, v in screens.items()}
    report.add(
        Figure(
            "desk",
            f"inbox screen, first rows ({n:,} conversations, {rows} rows shown)",
            first["full"] * 1000,
            "ms",
            "empty inbox",
            first["empty"] * 1000,
            better="lower",
            target="≤ 1.5×",
            met=first["full"] / first["empty"] <= 1.5,
        )
    )
    report.add(
        Figure(
            "desk",
            f"inbox screen, one page down ({n:,} conversations)",
            scroll["full"] * 1000,
            "ms",
            "empty inbox",
            scroll["empty"] * 1000,
            better="lower",
            target="≤ 1.5×",
            met=scroll["full"] / scroll["empty"] <= 1.5,
        )
    )
    core_runs = {
        "page 1": lambda: full.inbox(),
        "page 2": lambda: full.inbox(offset=50),
        "deep": lambda: full.inbox(offset=n // 2),
        "empty": lambda: empty.inbox(),
    }
    t = {k: median(v) for k, v in interleaved(core_runs, 3 if quick else 7).items()}
    for name, what in (
        ("page 1", "Desk.inbox(), page 1"),
        ("page 2", "Desk.inbox(offset=50), page 2"),
        ("deep", f"Desk.inbox(offset={n // 2:,})"),
    ):
        report.add(
            Figure(
                "desk",
                f"{what} ({n:,} conversations)",
                t[name] * 1000,
                "ms",
                "empty inbox",
                t["empty"] * 1000,
                better="lower",
            )
        )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="veilig-bench-") as tmp:
        run(Report(), "--quick" in sys.argv, Path(tmp))
