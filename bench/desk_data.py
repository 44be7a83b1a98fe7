"""The desk's 100,000 conversations: made quickly, but every row the inbox reads is real.

- the newest 1,000 are conversations of the starter (flow 1): a guest's message sealed
  for real with ``seal_message`` (HPKE to the mailbox key, meta and body streams in the
  blob store), which the desk's index round opens (timed) to index it and seal its
  heading, as after a real guest wrote;
- the other 99,000 are flow-2 conversations (staff to an outside person): a participant
  whose contact is sealed for real with the server secret (which the inbox unseals),
  and one outbound message row of the real shape (a wrapped key of the real length,
  meta and body items, a real origin tag) and the sealed heading the desk's index
  round leaves (core.heading): the inbox names the row by those and never opens its
  blobs, as for a real indexed row.

Every conversation has a made-up person and subject with an office's spread
(``bench.people``) and its search index: the bulk's tokens made with the real
``SearchKey.document`` from those words, the newest 1,000 indexed by the real
``Desk.index_pending`` (decrypting them, as a desk does; timed). The newest 5,000 are
open or waiting (a third nobody's, two thirds the desk's), the rest closed.

The bulk goes in with SQLAlchemy Core ``insert`` in batches of 5,000 rows, the same
statements on SQLite and on PostgreSQL (``bench.engines``).
"""

from __future__ import annotations

import os
import secrets
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from bench.common import BENCH_PASSWORD, bench_home
from bench.engines import Database


def make_home(path: Path, policy, database: Database):
    """A home on ``database`` (its sealed files in a shared folder on PostgreSQL, as
    with several hosts): (context, its frozen clock, the staff member's TOTP)."""
    from core.clock import FrozenClock
    from tui.factory import make_context

    shared = path / "shared" if database.shared else None
    if shared is not None:
        shared.mkdir(parents=True, mode=0o700)  # the folder every host mounts: it exists
    settings, totp = bench_home(path, policy, database_url=database.url(path), shared=shared)
    clock = FrozenClock()
    ctx = make_context(settings, policy=policy, clock=clock)
    return ctx, clock, totp


def login(ctx, clock, totp):
    from core.desk import Desk

    clock.advance(seconds=30)  # a fresh TOTP step: a code is accepted only once
    return Desk.login(ctx, "desk@declacare.nl", BENCH_PASSWORD, totp.at(clock()))


OPEN_WORK = 5_000  # the newest conversations that are not closed


def state_of(i: int, n: int, staff_id: str) -> tuple[str, str | None]:
    """The ``i``-th oldest of ``n``: closed (the desk's), or among the newest open work."""
    if i < n - OPEN_WORK:
        return "closed", staff_id
    return ("open", None) if i % 3 == 0 else ("waiting" if i % 3 == 1 else "open", staff_id)


def generate(ctx, desk, n: int, real: int) -> tuple[list, float]:
    """``n`` conversations: the newest ``real`` from guests (sealed for real), the rest
    flow-2 conversations inserted in bulk with their search tokens. Returns the people
    and the seconds the desk took to index the ``real`` ones."""
    from sqlalchemy import insert

    from bench.people import people
    from core.contact import Contact
    from core.context import require_organisation
    from core.models import Conversation, ConversationState, Direction, Message, Method
    from core.pins import message_origin, sealing_key, sign_origin
    from core.sealing import Draft, Sender, seal_message
    from storage.tables import (
        ConversationRow,
        MessageItemRow,
        MessageRow,
        ParticipantRow,
        SearchTokenRow,
    )

    key = desk._search_key  # the desk's, as Desk.index_pending uses it
    headings = desk._headings  # likewise: what the index round seals each heading with
    office = Sender("DeclaCare", "info@declacare.nl")  # who wrote a flow-2 first message
    everyone = people(n)
    with ctx.repo.transaction() as tx:
        _org, mailbox = require_organisation(tx)
    public = sealing_key(ctx.secret, mailbox)
    start = ctx.clock() - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / max(n, 1)
    bulk = n - real
    wrapped_len = 1168  # an HPKE-wrapped key of ML-KEM-768 + X25519 (see core.keys)
    conversations, participants, messages, items, tokens = [], [], [], [], []
    for i in range(bulk):
        at = start + step * i
        cid, pid, mid = (secrets.token_hex(16) for _ in range(3))
        person = everyone[i]
        contact = Contact(email=person.email, phone="+31612345678", name=person.name)
        state, assignee = state_of(i, n, desk.staff.id)
        conversations.append(
            dict(
                id=cid,
                mailbox_id=mailbox.id,
                unread=False,
                created_at=at,
                last_message_at=at,
                state=state,
                assignee_id=assignee,
                indexed_under=key.key_id,
                # As the desk's index round leaves it: the inbox opens this, not the blobs.
                heading=headings.seal(cid, mid, office, person.subject),
            )
        )
        found = key.document([person.name, person.subject], [person.email], [person.email])
        tokens += [dict(token=t, conversation_id=cid) for t in found]
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
        wrapped_key = os.urandom(wrapped_len)
        messages.append(
            dict(
                id=mid,
                conversation_id=cid,
                direction=Direction.OUTBOUND.value,
                wrapped_key=wrapped_key,
                attachment_count=i % 3,
                created_at=at,
                binding_format=2,
                # A real origin tag: a row checks it before it trusts the heading. The
                # blobs are never opened (the heading and the participant name the row).
                origin_mac=message_origin(
                    ctx.secret,
                    message_id=mid,
                    conversation_id=cid,
                    direction=Direction.OUTBOUND.value,
                    author_id=None,
                    attachment_count=i % 3,
                    binding_format=2,
                    wrapped_key=wrapped_key,
                ),
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
            (SearchTokenRow, tokens),
        ):
            for k in range(0, len(rows), 5000):
                conn.execute(insert(table.__table__), rows[k : k + 5000])

    blobs = _NoSyncBlobs(ctx.blobs.root)
    for i in range(real):
        at = start + step * (bulk + i)
        person = everyone[bulk + i]
        state, assignee = state_of(bulk + i, n, desk.staff.id)
        conversation = Conversation(
            mailbox_id=mailbox.id,
            created_at=at,
            last_message_at=at,
            unread=i % 2 == 0,
            state=ConversationState(state),
            assignee_id=assignee,
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
            sender=Sender(person.name, person.email),
            draft=Draft(person.subject, "A message body of a few lines.\n" * 5),
        )
        sign_origin(ctx.secret, message)  # as core.store does
        with ctx.repo.transaction() as tx:
            tx.add(conversation)
            tx.add(message)
    # The guests' conversations are not indexed yet, as after a real guest wrote: the
    # desk indexes them, decrypting each (what a desk does in its background round).
    started = time.perf_counter()
    while desk.index_pending():
        pass
    return everyone, time.perf_counter() - started


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
