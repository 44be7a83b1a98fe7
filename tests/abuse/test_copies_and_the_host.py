"""A copy of the database, a backup of the home, the host with ``server.key``: what each
can read (issue 21, findings 2, 4 and 12).
"""

from __future__ import annotations

import asyncio
import sqlite3
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from core import labels
from core.contact import Contact
from core.desk import Desk
from core.errors import InvalidInput
from core.models import Method
from core.policy import Policy
from core.sealing import Draft, Sender
from core.server_secret import ServerSecret
from core.starter import PendingGuest, VerifiedGuest
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, SmtpServer, make_settings
from tui.factory import init_home, make_context


def guess_offline(database: Path, password: str) -> bytes | None:
    """What a thief with only the database file does with a guessed password: the wrap's
    header says salt, cost and nonce; Argon2id(guess) is the key if nothing else is."""
    with sqlite3.connect(database) as db:
        [(wrap, staff_id, mailbox_id)] = db.execute("SELECT key_wrap, id, mailbox_id FROM staff")
    layout = struct.Struct(">BIIB16s12s")
    _version, passes, memory, lanes, salt, nonce = layout.unpack(wrap[: layout.size])
    key = Argon2id(salt=salt, length=32, iterations=passes, lanes=lanes, memory_cost=memory)
    try:
        return AESGCM(key.derive(password.encode())).decrypt(
            nonce, wrap[layout.size :], wrap[: layout.size] + labels.staff_key(staff_id, mailbox_id)
        )
    except InvalidTag:
        return None


def test_a_copy_of_the_database_does_not_let_anyone_test_guessed_passwords(
    home: Path, tmp_path: Path
) -> None:
    """Even the right password, guessed from a list, opens nothing without server.key
    (finding 2): the wrap's key has a pepper derived from it."""
    copy = tmp_path / "stolen.db"
    with sqlite3.connect(home / "veilig.db") as db, sqlite3.connect(copy) as out:
        db.backup(out)
    assert guess_offline(copy, "wrong guess") is None
    assert guess_offline(copy, STAFF_PASSWORD) is None


@pytest.mark.parametrize(
    "password",
    [
        "P@ssw0rd12345!",  # a breached classic with substitutions
        "Welkom01welkom",  # a common Dutch pattern: word, digits, word
        "iloveyou12345",  # straight from breach lists
        "qwertyuiop123",  # keyboard walk
        "declacare2026!",  # the organisation's name
        "desk@declacare.nl",  # the staff member's own address
        "veiligveilig1",  # the product
        "Amsterdam2024!",  # a place and a year
    ],
)
def test_init_refuses_breached_common_and_context_passwords(
    tmp_path: Path, policy: Policy, password: str
) -> None:
    with pytest.raises(InvalidInput):
        init_home(
            make_settings(tmp_path / "home"),
            org_name="DeclaCare",
            mailbox="info@declacare.nl",
            staff_email=STAFF_EMAIL,
            password=password,
            policy=policy,
        )


def test_a_backup_of_the_home_holds_no_reference(home: Path, policy: Policy, clock, totp) -> None:
    """With the embedded mail (no SMTP), notification mails must not lie in the home: a
    backup of it has the database and server.key, which with a reference open the
    thread without any code (finding 4)."""
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    desk.send_new(Contact("praktijk@fysio-jansen.nl", "06 12345127"), Method.SMS, Draft("x", "y"))
    asyncio.run(ctx.outbox.deliver_due())
    [notice] = [
        p
        for p in make_settings(home).maildir.rglob("*")
        if p.is_file() and "veilig open" in p.read_text("utf-8", "replace")
    ]
    reference = notice.read_text("utf-8").split("veilig open ")[1][:39]
    for path in home.rglob("*"):
        if path.is_file():
            assert reference.encode() not in path.read_bytes(), path


def test_a_notification_that_finally_fails_leaves_no_reference_and_no_share(
    home: Path, policy: Policy, clock, totp, smtp_down: SmtpServer
) -> None:
    """The host's view (database and server.key): a notice given up after its retries
    keeps no sealed payload (it held the reference), and its share is destroyed, so the
    reference, wherever it is, opens nothing (finding 4)."""
    few = replace(policy, delivery_give_up_after_attempts=2)
    ctx = make_context(make_settings(home, smtp_down.url), policy=few, clock=clock)
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    desk.send_new(Contact("praktijk@fysio-jansen.nl", "06 12345127"), Method.SMS, Draft("x", "y"))
    for _try in range(3):
        asyncio.run(ctx.outbox.deliver_due())
        clock.advance(hours=1)
    secret = ServerSecret.load(home)
    with sqlite3.connect(home / "veilig.db") as db:
        failed = db.execute(
            "SELECT id, sealed_payload FROM outbox WHERE status = 'failed'"
        ).fetchall()
        shares = db.execute("SELECT share_sealed FROM invitation").fetchall()
    assert failed, "the notice should have been given up"
    readable = []
    for item_id, payload in failed:
        try:
            readable.append(secret.open(payload, labels.outbox(item_id)))
        except Exception:
            pass
    assert readable == []
    assert shares == [(b"",)]


def test_objects_holding_contact_details_do_not_print_them() -> None:
    """Reprs of contact details, guests and senders name no address, phone or name
    (finding 12): they end up in logs and in tracebacks with locals."""
    objects = [
        Contact("karin@huidtherapiex.nl", "+31612345127", "Karin Janssen"),
        PendingGuest(name="Karin Janssen", email="karin@huidtherapiex.nl", challenge_id="c"),
        VerifiedGuest(name="Karin Janssen", email="karin@huidtherapiex.nl"),
        Sender("Karin Janssen", "karin@huidtherapiex.nl"),
    ]
    for shown in map(repr, objects):
        for secret in ("karin@huidtherapiex.nl", "+31612345127", "Karin Janssen", "Karin"):
            assert secret not in shown, shown


def test_a_short_sealed_record_is_cannot_open() -> None:
    from core.errors import CannotOpen

    for short in (b"", b"\0" * 7, b"\0" * 12):
        with pytest.raises(CannotOpen):
            ServerSecret(bytes(32)).open(short, labels.totp("s"))
