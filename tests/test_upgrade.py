"""An existing home, as the code before issue 21 wrote it, opens with today's code and is
brought to the new formats: migration 0004 (with server.key) and the first log-in.

The home in tests/fixtures/home-format1 was made by that code itself (its script says
how): password wraps without the pepper, shares bound to the invitation id only, contact
records without method and conversation, messages bound to their id only, no pin.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from core.clock import FrozenClock
from core.desk import Desk
from core.errors import CodeRejected
from core.keys import MailboxPrivateKey, parse_recovery_key
from core.models import Method
from core.pins import is_pinned
from core.policy import DEFAULT_POLICY
from core.recipient import Recipient
from core.recipient_steps import MessageUnavailable
from core.recovery import open_mailbox
from core.sealing import Draft
from core.staff import is_admin
from tests.conftest import make_settings, sms_code
from tui.factory import make_context

FIXTURE = Path(__file__).with_name("fixtures") / "home-format1"


@pytest.fixture
def old_home(tmp_path: Path) -> tuple[Path, dict[str, object], FrozenClock]:
    home = tmp_path / "home"
    shutil.copytree(FIXTURE, home)
    facts = json.loads((home / "fixture.json").read_text("utf-8"))
    clock = FrozenClock(datetime.fromisoformat(facts["made_at"]) + timedelta(days=1))
    return home, facts, clock


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    [head] = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    return str(head)


def rows(home: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "veilig.db") as db:
        return db.execute(query).fetchall()


def test_an_old_home_opens_and_is_brought_to_the_new_formats(old_home) -> None:
    home, facts, clock = old_home
    assert rows(home, "SELECT version_num FROM alembic_version") == [("0003",)]
    assert rows(home, "SELECT substr(key_wrap, 1, 1) FROM staff") == [(b"\x01",)]

    ctx = make_context(make_settings(home), policy=DEFAULT_POLICY.with_cheap_kdf(), clock=clock)

    # The migrations: every row re-sealed or tagged with server.key (0004); the one staff
    # member an admin, enrolled, the wrap still the mailbox key itself (staff lifecycle);
    # whose move each conversation is, from its newest message (team desk); on to head.
    assert rows(home, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert rows(home, "SELECT role, enrolled_at IS NOT NULL, length(public_key) FROM staff") == [
        ("admin", 1, 0)
    ]
    for conversation_id, state in rows(home, "SELECT id, state FROM conversation"):
        [(newest,)] = rows(
            home,
            "SELECT direction FROM message WHERE conversation_id = "
            f"'{conversation_id}' ORDER BY created_at DESC LIMIT 1",
        )
        assert state == ("waiting" if newest == "out" else "open")
    assert rows(home, "SELECT DISTINCT binding_format FROM message") == [(1,)]
    assert all(mac for (mac,) in rows(home, "SELECT origin_mac FROM message"))
    with ctx.repo.transaction() as tx:
        mailbox = tx.mailbox()
        assert mailbox is not None and is_pinned(ctx.secret, mailbox)
        assert ctx.audit.verify(tx) == []

    # The first log-in opens the old wrap and re-wraps it with the pepper: the person's
    # own key under the password, the mailbox key wrapped to it (format 3), pinned.
    totp = pyotp.TOTP(str(facts["totp_secret"]))
    desk = Desk.login(ctx, "desk@declacare.nl", str(facts["password"]), totp.at(clock.now))
    assert rows(home, "SELECT substr(key_wrap, 1, 1) FROM staff") == [(b"\x02",)]
    assert desk.staff.public_key and desk.staff.mailbox_wrap
    assert is_admin(ctx, desk.staff)
    clock.advance(seconds=30)
    desk = Desk.login(ctx, "desk@declacare.nl", str(facts["password"]), totp.at(clock.now))

    # The first desk indexes the old conversations for search (none was).
    assert rows(home, "SELECT count(*) FROM search_token") == [(0,)]
    while desk.index_pending():
        pass
    # ... and seals each one's heading for the inbox's rows (core.heading).
    assert all(heading for (heading,) in rows(home, "SELECT heading FROM conversation"))
    [found] = desk.search("fysio-jansen")
    assert found.email == "praktijk@fysio-jansen.nl"

    # Old messages open as before: the guest's, staff's and the recipient's reply.
    bodies = []
    for row in desk.inbox():
        view = desk.thread(row.conversation.id)
        assert view.damaged == []
        bodies += [opened.body for opened, _key in view.messages]
    assert sorted(bodies) == sorted(
        ["Is mijn declaratie al verwerkt?", "Zie bijlage.", "Dank, ontvangen.", "weg", "Hallo"]
    )

    # The recipient's old reference opens with an SMS code, by the method now sealed.
    references = facts["references"]
    assert isinstance(references, dict)
    recipient = Recipient(ctx)
    invited = recipient.lookup(references["praktijk@fysio-jansen.nl"])
    assert invited.method is Method.SMS and invited.masked_destination == "+31 6 •• •• •1 27"
    sent = recipient.request_code(invited)
    asyncio.run(ctx.outbox.deliver_due())
    line = (home / "sms.log").read_text("utf-8").splitlines()[-1]
    thread = recipient.verify(sent, sms_code(json.loads(line)))
    assert [m.body for m, _key in recipient.messages(thread)] == [
        "Zie bijlage.",
        "Dank, ontvangen.",
    ]
    # ... and by e-mail where that was the method.
    assert recipient.lookup(references["email@example.nl"]).method is Method.EMAIL
    # The revoked person's share went with the upgrade.
    with pytest.raises(MessageUnavailable):
        recipient.lookup(references["revoked@example.nl"])
    assert rows(home, "SELECT count(*) FROM invitation WHERE share_sealed = x''") == [(1,)]

    # New messages in an old conversation are of format 2, and open.
    conversation = thread.participant.conversation_id
    desk.reply(conversation, Draft("Re: Re: Uitslag", "Graag gedaan."))
    assert rows(home, "SELECT DISTINCT binding_format FROM message ORDER BY 1") == [(1,), (2,)]
    assert [m.body for m, _k in desk.thread(conversation).messages][-1] == "Graag gedaan."


def test_the_upgraded_rows_are_bound_like_new_ones(old_home) -> None:
    """After the upgrade, a method flipped in the plain column turns an old reference
    into a decoy: no code goes to the e-mail address (issue 21, finding 3)."""
    home, facts, clock = old_home
    ctx = make_context(make_settings(home), policy=DEFAULT_POLICY.with_cheap_kdf(), clock=clock)
    with sqlite3.connect(home / "veilig.db") as db:
        db.execute("UPDATE participant SET method = 'email' WHERE method = 'sms'")
    recipient = Recipient(ctx)
    references = facts["references"]
    assert isinstance(references, dict)
    invited = recipient.lookup(references["praktijk@fysio-jansen.nl"])
    sent = recipient.request_code(invited)
    asyncio.run(ctx.outbox.deliver_due())
    assert not make_settings(home).maildir.exists() or not any(
        "fysio-jansen" in p.read_text("utf-8", "replace")
        for p in (make_settings(home).maildir / "new").iterdir()
    )
    with pytest.raises(CodeRejected):
        recipient.verify(sent, "123456")


def test_the_old_recovery_key_still_opens_the_mailbox(old_home) -> None:
    """Recovery keys shown before the check character existed (13 groups) still work,
    typed leniently (lower case, 0/1 for O/I)."""
    home, facts, clock = old_home
    ctx = make_context(make_settings(home), policy=DEFAULT_POLICY.with_cheap_kdf(), clock=clock)
    typed = str(facts["recovery_key"]).lower().replace("o", "0").replace("i", "1")
    with ctx.repo.transaction() as tx:
        mailbox = tx.mailbox()
    assert mailbox is not None
    key = open_mailbox(mailbox, typed)
    assert isinstance(key, MailboxPrivateKey)
    assert parse_recovery_key(typed) == str(facts["recovery_key"]).replace("-", "")
