"""``veilig mailbox rotate`` (issue 14): afterwards every message opens with the new key,
the old key opens nothing (not even what was stored before), the recovery key is new,
and a rotation killed halfway (a real kill -9 of the real command) goes on where it was.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

import core.rotation
from core import labels, search
from core.audit import Action
from core.desk import Desk
from core.errors import CannotOpen, SessionEnded
from core.heading import HeadingKey
from core.keys import MailboxPrivateKey, RotatingMailboxKey
from core.models import Conversation, Direction, Message
from core.pins import check_origin
from core.policy import Policy
from core.recipient import Recipient
from core.recovery import open_mailbox
from core.sealing import Draft, Sender, content_binding
from core.search import SearchKey
from core.setup import InitResult
from core.starter import Starter, VerifiedGuest
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, make_settings, staff_desk
from tests.staff_helpers import (
    _deliver,
    all_bodies,
    as_admin,
    database_bytes,
    enrol_as,
    make_history,
    newest_sms_code,
)
from tui.factory import make_context

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ctx(home: Path, policy: Policy, clock):
    return make_context(make_settings(home), policy=policy, clock=clock)


def mailbox_of(ctx):
    with ctx.repo.transaction() as tx:
        mailbox = tx.mailbox()
    assert mailbox is not None
    return mailbox


def wraps(home: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Every wrap of a key to the mailbox, and every wrap of the mailbox key itself."""
    with sqlite3.connect(home / "veilig.db") as db:
        return {
            "message": db.execute("SELECT id, wrapped_key FROM message").fetchall(),
            "participant": db.execute("SELECT id, thread_key_wrapped FROM participant").fetchall(),
            "staff": db.execute(
                "SELECT id, mailbox_wrap FROM staff WHERE mailbox_wrap != x''"
            ).fetchall(),
            "recovery": db.execute("SELECT id, recovery_wrap FROM mailbox").fetchall(),
        }


def derived(home: Path) -> dict[str, list[bytes]]:
    """What is made with keys derived from the mailbox key: headings and search tokens."""
    with sqlite3.connect(home / "veilig.db") as db:
        return {
            "heading": [h for (h,) in db.execute("SELECT heading FROM conversation") if h],
            "search_token": [t for (t,) in db.execute("SELECT token FROM search_token")],
        }


def headings_of(home: Path) -> list[tuple[str, bytes, list[str]]]:
    """Each sealed heading, its conversation, and the ids of that conversation's messages
    (one of them is the first, which the heading is bound to)."""
    with sqlite3.connect(home / "veilig.db") as db:
        found = db.execute("SELECT id, heading FROM conversation WHERE heading != x''")
        return [
            (
                cid,
                sealed,
                [
                    m
                    for (m,) in db.execute(
                        "SELECT id FROM message WHERE conversation_id = ?", (cid,)
                    )
                ],
            )
            for cid, sealed in found.fetchall()
        ]


def opens_heading(key: MailboxPrivateKey, conversation_id: str, first: str, sealed: bytes) -> bool:
    try:
        HeadingKey.of(key).open(conversation_id, first, sealed)
    except CannotOpen:
        return False
    return True


def messages_of(ctx) -> list[Message]:
    with ctx.repo.transaction() as tx:
        return tx.message_keys_after("", 1_000_000)


def fresh_desk(ctx, clock, totp: pyotp.TOTP) -> Desk:
    clock.advance(seconds=30)  # a fresh TOTP step: each code works once
    return staff_desk(ctx, totp)


def opens(key: MailboxPrivateKey, message: Message) -> bool:
    try:
        key.unwrap(message.wrapped_key, content_binding(message))
    except CannotOpen:
        return False
    return True


def test_after_a_rotation_every_message_opens_with_the_new_key_and_the_old_opens_nothing(
    ctx, clock, totp, home, initialised: tuple[Path, InitResult]
) -> None:
    desk = fresh_desk(ctx, clock, totp)
    reference, bodies = make_history(ctx, home, desk)
    while desk.index_pending():  # search tokens and headings under the old key's keys
        pass
    indexed = derived(home)
    assert indexed["heading"] and indexed["search_token"]
    bram, bram_app = enrol_as(
        ctx, home, as_admin(ctx, clock, totp).add("bram@x.nl", "B"), "purple elephant dances slowly"
    )
    old = open_mailbox(mailbox_of(ctx), initialised[1].recovery_key)
    before = wraps(home)
    pending = as_admin(ctx, clock, totp).add("carla@x.nl", "Carla")  # not enrolled yet

    shown, progress = [], []
    finished = as_admin(ctx, clock, totp).rotate(shown.append, lambda *a: progress.append(a))

    assert (finished.messages, finished.damaged) == (len(before["message"]), 0)
    assert finished.participants == len(before["participant"])
    assert progress[-1][0] == progress[-1][1] == finished.messages + finished.participants
    [started] = shown
    assert started.withdrawn == ["carla@x.nl"]
    new = open_mailbox(mailbox_of(ctx), started.recovery_key)
    with pytest.raises(CannotOpen):  # the old recovery key opens nothing any more
        open_mailbox(mailbox_of(ctx), initialised[1].recovery_key)

    # The desk of before ends; a new log-in reads every message, with the new key.
    with pytest.raises(SessionEnded):
        desk.inbox()
    assert all_bodies(fresh_desk(ctx, clock, totp)) == bodies
    clock.advance(seconds=30)
    assert (
        all_bodies(
            Desk.login(ctx, "bram@x.nl", "purple elephant dances slowly", bram_app.at(clock.now))
        )
        == bodies
    )
    # The old key opens nothing: no message, no thread key, no staff wrap.
    for message in messages_of(ctx):
        check_origin(ctx.secret, message)
        assert opens(new, message) and not opens(old, message)
    for participant_id, wrapped in wraps(home)["participant"]:
        with pytest.raises(CannotOpen):
            old.unwrap(wrapped, labels.thread_key(participant_id))
        new.unwrap(wrapped, labels.thread_key(participant_id))
    # ... nor anything new: a guest's message after the rotation.
    Starter(ctx).send(VerifiedGuest("Na", "na@example.nl"), Draft("Later", "Na de rotatie."))
    after = messages_of(ctx)
    assert len(after) == len(before["message"]) + 1 and not any(opens(old, m) for m in after)
    # No wrap of before is left in the database's files (the recovery wrap neither).
    raw = database_bytes(home)
    for kind in before.values():
        for _id, wrapped in kind:
            assert wrapped not in raw
    # Nor a search token or heading made with the old key's keys: the old key could
    # test a guessed word against the one and open the other (core.heading).
    assert derived(home) == {"heading": [], "search_token": []}
    for sealed in indexed["heading"] + indexed["search_token"]:
        assert sealed not in raw
    assert search.find(ctx, SearchKey.of(old), "Uitslag") == []
    # The next desk indexes again under the new key; its rows read the new headings.
    later = fresh_desk(ctx, clock, totp)
    while later.index_pending():
        pass
    assert derived(home)["heading"] and len(later.search("Uitslag")) == 1
    for conversation_id, sealed, first_ids in headings_of(home):
        assert any(opens_heading(new, conversation_id, m, sealed) for m in first_ids)
        assert not any(opens_heading(old, conversation_id, m, sealed) for m in first_ids)
    # The recipient's reference opens their conversation as before (thread keys moved).
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference))
    _deliver(ctx)
    thread = recipient.verify(sent, newest_sms_code(home))
    assert [m.body for m, _k in recipient.messages(thread)] == ["Zie bijlage.", "Dank, ontvangen."]
    # And the invitation withdrawn can be made again.
    assert pending.email == "carla@x.nl"
    enrol_as(
        ctx, home, as_admin(ctx, clock, totp).reset("carla@x.nl"), "seven green kettles whistle"
    )
    with ctx.repo.transaction() as tx:
        actions = [e.action for e in tx.audit_entries()]
        assert ctx.audit.verify(tx) == []
    assert Action.MAILBOX_ROTATION_STARTED in actions and Action.MAILBOX_ROTATED in actions


def test_a_rotation_stopped_halfway_goes_on_and_everyone_reads_everything_meanwhile(
    ctx, clock, totp, home, monkeypatch
) -> None:
    monkeypatch.setattr(core.rotation, "BATCH", 2)
    reference, bodies = make_history(ctx, home, fresh_desk(ctx, clock, totp))

    class Stop(Exception):
        pass

    def stop_after_one_batch(done: int, total: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        as_admin(ctx, clock, totp).rotate(lambda started: None, stop_after_one_batch)
    with sqlite3.connect(home / "veilig.db") as db:
        [(done,)] = db.execute("SELECT messages_done FROM mailbox_rotation").fetchall()
    assert done == 2

    # Meanwhile: a log-in gets the new key with the old riding along; everything opens,
    # and a guest's message is sealed to the new key.
    desk = fresh_desk(ctx, clock, totp)
    assert isinstance(desk._key, RotatingMailboxKey)
    assert all_bodies(desk) == bodies
    Starter(ctx).send(VerifiedGuest("Mid", "mid@example.nl"), Draft("Tijdens", "Midden in."))

    admin = as_admin(ctx, clock, totp)
    assert admin.rotating
    finished = admin.rotate(lambda started: pytest.fail("started again"))
    assert finished.damaged == 0
    bodies = sorted([*bodies, "Midden in."])
    assert all_bodies(desk) == bodies  # the session's old key went once it finished
    assert not isinstance(desk._key, RotatingMailboxKey)
    assert all_bodies(fresh_desk(ctx, clock, totp)) == bodies


def test_a_message_sealed_as_the_rotation_starts_is_wrapped_to_the_new_key(
    ctx, clock, totp, home
) -> None:
    """Sealing reads the public key, then takes its time; a rotation that starts and
    passes this message's id meanwhile would miss it. It is wrapped to the key of the
    moment it is stored instead (core.store)."""
    from core.store import store_message

    stale = mailbox_of(ctx)
    admin = as_admin(ctx, clock, totp)
    new = core.rotation.start(ctx, admin._key, admin.actor, lambda started: None)
    core.rotation.run(ctx, new, admin.actor)
    message = Message(
        conversation_id="", direction=Direction.INBOUND, wrapped_key=b"", created_at=clock.now
    )
    conversation = Conversation(mailbox_id=stale.id, created_at=clock.now)
    message.conversation_id = conversation.id

    def record(tx, content_key) -> None:
        tx.add(conversation)
        tx.add(message)

    store_message(
        ctx,
        message,
        Draft("Net", "op tijd"),
        mailbox=stale,
        sender=Sender("G", "g@example.nl"),
        record=record,
        audit=("guest", Action.MESSAGE_RECEIVED),
    )
    [stored] = messages_of(ctx)
    assert opens(new.settled(), stored)
    assert all_bodies(fresh_desk(ctx, clock, totp)) == ["op tijd"]


# --- a real kill -9 of the real command ----------------------------------------------------


def veilig(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    env["VEILIG_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def rotate_command(home: Path, code: str) -> subprocess.Popen[str]:
    process = veilig(home, "mailbox", "rotate", "--by", STAFF_EMAIL)
    assert process.stdin is not None
    process.stdin.write(f"{STAFF_PASSWORD}\n{code}\n")
    process.stdin.flush()
    return process


@pytest.mark.slow
def test_a_rotation_killed_halfway_goes_on_where_it_was(
    home: Path, policy: Policy, initialised: tuple[Path, InitResult]
) -> None:
    from bench.rotation import generate

    ctx = make_context(make_settings(home), policy=policy)
    generate(ctx, 20_000, participants=2_000)
    Starter(ctx).send(VerifiedGuest("Karin", "karin@example.nl"), Draft("Vraag", "Echt geopend."))
    old = open_mailbox(mailbox_of(ctx), initialised[1].recovery_key)
    totp = pyotp.TOTP(initialised[1].totp_secret)  # real time: the command's own clock

    first = rotate_command(home, totp.now())
    assert first.stdout is not None
    recovery_key = ""
    for line in first.stdout:
        if re.fullmatch(r"    (?:[A-Z2-7]{4}-){13}[A-Z2-7]", line.rstrip("\n")):
            recovery_key = line.strip()
        if "re-wrapped" in line:
            break  # at least one batch is committed
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=60) == -signal.SIGKILL
    with sqlite3.connect(home / "veilig.db") as db:
        [(done,)] = db.execute("SELECT messages_done FROM mailbox_rotation").fetchall()
    assert 0 < done < 20_001, "killed before it began or after it ended"
    new = open_mailbox(mailbox_of(ctx), recovery_key)  # the key shown before the kill

    # Halfway, every message opens with the new key and the old one beside it.
    halfway = RotatingMailboxKey(new, old)
    assert all(opens(halfway, m) for m in messages_of(ctx))

    second = rotate_command(home, totp.at(time.time() + 30))  # the next TOTP step
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert "goes on where it was" in out and "Done: 20001 messages" in out
    with sqlite3.connect(home / "veilig.db") as db:
        assert db.execute("SELECT count(*) FROM mailbox_rotation").fetchone() == (0,)
    for message in messages_of(ctx):
        assert opens(new, message) and not opens(old, message)
    with ctx.repo.transaction() as tx:
        actions = [e.action for e in tx.audit_entries()]
    assert actions.count(Action.MAILBOX_ROTATION_STARTED) == 1
    assert actions.count(Action.MAILBOX_ROTATED) == 1
