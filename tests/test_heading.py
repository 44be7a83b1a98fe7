"""Each conversation's sealed heading (core.heading): the desk's index round writes it,
the inbox's rows read it instead of opening the first message, and nothing someone
with write access to the database does to it makes a row say something false. Real
SQLite (and PostgreSQL, where marked), the real blob store, the real desk."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from alembic import command
from sqlalchemy import text

from core.clock import FrozenClock
from core.desk import Desk
from core.drafts import Sender
from core.errors import CannotOpen
from core.heading import HeadingKey
from core.models import View
from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from storage.db import alembic_config
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, make_settings
from tui.factory import make_context

GUESTS = [
    ("Karin Janssen", "karin@huidtherapiex.nl", "Declaratie maart"),
    ("Ömer Ünal", "omer@fysio-unal.nl", "Vraag over machtiging"),
]
CANNOT = "(cannot be opened)"


@pytest.fixture
def ctx(home: Path, policy: Policy, clock: FrozenClock):
    return make_context(make_settings(home), policy=policy, clock=clock)


@pytest.fixture
def desk(ctx, totp: pyotp.TOTP, clock: FrozenClock) -> Desk:
    for name, email, subject in GUESTS:
        Starter(ctx).send(VerifiedGuest(name, email), Draft(subject, "Een vraag."))
        clock.advance(minutes=1)
    return Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))


def sql(ctx, statement: str, **values) -> list[tuple]:
    """What someone with write access to the database does (or reads)."""
    with ctx.repo.engine.begin() as connection:
        result = connection.execute(text(statement), values)
        return [tuple(r) for r in result] if result.returns_rows else []


def shown(desk: Desk) -> set[tuple[str, str, str]]:
    return {(row.who, row.email, row.subject) for row in desk.inbox(View.ALL)}


def headings(ctx) -> dict[str, bytes]:
    return dict(sql(ctx, "SELECT id, heading FROM conversation"))


def remove_first_metas(ctx) -> None:
    """Every meta blob gone from the store: a row that still names who wrote and the
    subject read them from the heading, not from the message."""
    for (blob_id,) in sql(ctx, "SELECT blob_id FROM message_item WHERE role = 'meta'"):
        ctx.blobs.delete(blob_id)


@pytest.mark.both_databases
def test_the_index_round_seals_each_heading_and_the_rows_read_it(ctx, desk) -> None:
    expected = set(GUESTS)
    assert set(headings(ctx).values()) == {b""}  # a guest has no mailbox key
    assert shown(desk) == expected  # until the round: the rows open the messages

    while desk.index_pending():
        pass
    sealed = headings(ctx)
    assert all(sealed.values()) and len(set(sealed.values())) == len(GUESTS)
    for name, email, subject in GUESTS:  # sealed: no name, address or subject in them
        for plain in (name, email, subject):
            assert not any(plain.encode() in h for h in sealed.values())

    remove_first_metas(ctx)
    assert shown(desk) == expected  # from the headings alone
    # Opening the conversation still reads the message, and says that it is damaged.
    [row, _other] = desk.inbox(View.ALL)
    assert desk.thread(row.conversation.id).damaged


def test_a_heading_moved_to_another_conversation_does_not_open_there(ctx, desk) -> None:
    while desk.index_pending():
        pass
    (first, one), (second, other) = sorted(headings(ctx).items())
    sql(ctx, "UPDATE conversation SET heading = :h WHERE id = :id", h=other, id=first)
    sql(ctx, "UPDATE conversation SET heading = :h WHERE id = :id", h=one, id=second)
    assert shown(desk) == set(GUESTS)  # each row opened its own message instead

    remove_first_metas(ctx)  # now neither the swapped headings nor the messages open
    assert {row.subject for row in desk.inbox(View.ALL)} == {CANNOT}


def test_an_altered_heading_falls_back_to_the_message(ctx, desk) -> None:
    while desk.index_pending():
        pass
    for conversation_id, sealed in headings(ctx).items():
        altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
        sql(
            ctx,
            "UPDATE conversation SET heading = :h WHERE id = :id",
            h=altered,
            id=conversation_id,
        )
    assert shown(desk) == set(GUESTS)


def test_a_row_with_a_heading_still_checks_its_first_messages_origin(ctx, desk) -> None:
    """A message row changed in the database (here its attachment count) does not open,
    and its conversation's row says so, heading or not: as before headings existed."""
    while desk.index_pending():
        pass
    [(changed,)] = sql(ctx, "SELECT id FROM message ORDER BY created_at LIMIT 1")
    sql(ctx, "UPDATE message SET attachment_count = 3 WHERE id = :id", id=changed)
    subjects = {row.subject for row in desk.inbox(View.ALL)}
    assert subjects == {CANNOT, GUESTS[1][2]}


def test_a_heading_opens_only_with_its_key_for_its_conversation_and_first_message() -> None:
    key, other = HeadingKey(bytes(32)), HeadingKey(bytes([1]) * 32)
    sealed = key.seal("c1", "m1", Sender("Karin Janssen", "karin@example.nl"), "Declaratie")
    assert key.open("c1", "m1", sealed) == (
        Sender("Karin Janssen", "karin@example.nl"),
        "Declaratie",
    )
    for wrong in (
        lambda: other.open("c1", "m1", sealed),  # another mailbox key's
        lambda: key.open("c2", "m1", sealed),  # moved to another conversation
        lambda: key.open("c1", "m0", sealed),  # another first message put in front
        lambda: key.open("c1", "m1", sealed[:10]),  # cut short
    ):
        with pytest.raises(CannotOpen):
            wrong()
    assert "0000" not in repr(key) and repr(key) == "HeadingKey(<secret>)"


@pytest.mark.both_databases
def test_the_upgrade_marks_conversations_for_the_round_that_writes_their_headings(
    ctx, desk
) -> None:
    """A home at 0007 indexed already: the migration cannot seal headings (it has no
    mailbox key), so it marks every conversation for the next desk's index round."""
    while desk.index_pending():
        pass
    config = alembic_config(str(ctx.repo.engine.url))
    command.downgrade(config, "0007_team_desk")
    assert all(under for (under,) in sql(ctx, "SELECT indexed_under FROM conversation"))
    command.upgrade(config, "head")
    assert sql(ctx, "SELECT DISTINCT indexed_under, heading FROM conversation") == [(b"", b"")]
    assert shown(desk) == set(GUESTS)

    assert desk.index_pending() == len(GUESTS)
    assert all(headings(ctx).values())
    remove_first_metas(ctx)
    assert shown(desk) == set(GUESTS)
