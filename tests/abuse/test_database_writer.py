"""Someone who can write the database (and has no ``server.key``): what they change must
not change who can read, nor what the desk shows as fact (issue 21, findings 1, 3, 10, 11).

Each attack is an SQL UPDATE, DELETE or INSERT on the real SQLite file of a real home,
then the real services, real SMTP and a real SMS gateway on loopback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from core.audit import Action
from core.contact import Contact
from core.context import Context
from core.desk import Desk
from core.errors import CannotOpen, KeyDamaged, VeiligError
from core.keys import MailboxPrivateKey, MailboxPublicKey
from core.labels import content_key
from core.models import Direction, Message, Method
from core.recipient import Recipient
from core.sealing import Draft, Sender, seal_message
from core.starter import Starter, VerifiedGuest
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    code_in,
    deliver,
    reference_in,
    sms_code,
)

PRACTITIONER = "praktijk@fysio-jansen.nl"
MOBILE = "06 12345127"
ATTACKER = "mallory@example.nl"
ATTACKER_MOBILE = "06 87654321"


@pytest.fixture
def ctx(wired_ctx: Context) -> Context:
    return wired_ctx


def sql(home: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(home / "veilig.db") as db:
        db.execute(statement, args)


def login(ctx: Context, totp, clock) -> Desk:
    clock.advance(seconds=30)  # a fresh TOTP step each time
    return Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))


def send(ctx: Context, desk: Desk, smtp: SmtpServer, email: str, phone: str, **kw) -> str:
    desk.send_new(Contact(email, phone), Method.SMS, Draft("Uitslag", "Zie bijlage."), **kw)
    deliver(ctx)
    return reference_in(smtp.bag.next_to(email))


def drain(gateway: SmsGateway) -> list[dict[str, str]]:
    out = []
    while not gateway.received.empty():
        out.append(gateway.received.get_nowait())
    return out


def newest_sms(gateway: SmsGateway) -> Callable[[], str | None]:
    """Where a code comes from for the person holding the phone: the newest SMS."""

    def code() -> str | None:
        sent = drain(gateway)
        return sms_code(sent[-1]) if sent else None

    return code


def try_to_open(ctx: Context, reference: str, code_from) -> str:
    """Everything a holder of ``reference`` can do: look up, get a code, type it, read.
    Returns what they read, or the kind of refusal."""
    recipient = Recipient(ctx)
    try:
        sent = recipient.request_code(recipient.lookup(reference))
        deliver(ctx)
        code = code_from()
        thread = recipient.verify(sent, code or "000000")
        return " | ".join(m.body for m, _key in recipient.messages(thread))
    except VeiligError as exc:
        return type(exc).__name__


# --- finding 1: the mailbox public key ----------------------------------------------------


def test_a_swapped_mailbox_public_key_gets_nothing_sealed_to_it(ctx, home, totp, clock) -> None:
    """The writer puts their own public key in ``mailbox.public_key``. A guest's next
    message must not be sealed to it: it is refused, nothing is stored or queued; and the
    next staff log-in says the key does not match (audited)."""
    attacker = MailboxPrivateKey.generate()
    sql(home, "UPDATE mailbox SET public_key = ?", attacker.public_key().raw)

    with pytest.raises(KeyDamaged):
        Starter(ctx).send(VerifiedGuest("Karin", "karin@example.nl"), Draft("Vraag", "geheim"))
    with sqlite3.connect(home / "veilig.db") as db:
        stored = db.execute("SELECT id, wrapped_key FROM message").fetchall()
        queued = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    opened = []
    for message_id, wrapped in stored:  # what the attacker would do with what was stored
        try:
            opened.append(attacker.unwrap(wrapped, content_key(message_id)))
        except CannotOpen:
            pass
    assert stored == [] and queued == 0 and opened == []

    with pytest.raises(KeyDamaged):
        login(ctx, totp, clock)
    with ctx.repo.transaction() as tx:
        assert Action.MAILBOX_KEY_MISMATCH in [e.action for e in tx.audit_entries()]


def test_a_key_swapped_during_a_session_gets_nothing_sealed_to_it(
    ctx, home, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    """Staff are logged in and a recipient has their message open; then the key is
    swapped. Staff's messages, replies and new thread keys are refused, as is the
    recipient's reply: nothing new is stored."""
    desk = login(ctx, totp, clock)
    reference = send(ctx, desk, smtp_server, PRACTITIONER, MOBILE)
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference))
    deliver(ctx)
    thread = recipient.verify(sent, sms_code(sms_gateway.next()))
    [row] = desk.sent()
    attacker = MailboxPrivateKey.generate()
    sql(home, "UPDATE mailbox SET public_key = ?", attacker.public_key().raw)
    with sqlite3.connect(home / "veilig.db") as db:
        before = db.execute("SELECT count(*) FROM message").fetchone()[0]
    with pytest.raises(KeyDamaged):
        desk.send_new(Contact("other@example.nl", MOBILE), Method.SMS, Draft("x", "y"))
    with pytest.raises(KeyDamaged):
        desk.reply(row.participant.conversation_id, Draft("Re", "more"))
    with pytest.raises(KeyDamaged):
        recipient.reply(thread, Draft("Re", "from the recipient"))
    with sqlite3.connect(home / "veilig.db") as db:
        assert db.execute("SELECT count(*) FROM message").fetchone()[0] == before


# --- finding 3: the SMS step rests on sealed values -----------------------------------------


def test_a_flipped_method_sends_no_code_to_the_mailbox_of_the_notification(
    ctx, home, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    """The holder of the notification e-mail flips ``participant.method`` from sms to
    email, so the code would come to the same mailbox: the reference is then a decoy,
    no code goes anywhere, and the message does not open."""
    reference = send(ctx, login(ctx, totp, clock), smtp_server, PRACTITIONER, MOBILE)
    sql(home, "UPDATE participant SET method = 'email'")

    def code_from_the_mailbox() -> str | None:
        mails = [m for m in smtp_server.bag.all if "code" in (m["Subject"] or "")]
        return code_in(mails[-1]) if mails else None

    assert try_to_open(ctx, reference, code_from_the_mailbox) == "CodeRejected"
    assert drain(sms_gateway) == []
    assert [m for m in smtp_server.bag.all if "code" in (m["Subject"] or "")] == []


def test_a_re_pointed_invitation_sends_no_code_to_the_attackers_phone(
    ctx, home, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    """The attacker holds a victim's notification and has a message of their own (their
    own participant row, their own phone). They point the victim's invitation, the
    victim's wrapped keys and their own row at the victim's conversation: the code must
    not come to their phone, and nothing opens."""
    desk = login(ctx, totp, clock)
    victims_reference = send(ctx, desk, smtp_server, PRACTITIONER, MOBILE)
    send(ctx, desk, smtp_server, ATTACKER, ATTACKER_MOBILE)
    with sqlite3.connect(home / "veilig.db") as db:
        rows = db.execute(
            "SELECT p.id, p.conversation_id FROM participant p ORDER BY p.created_at"
        ).fetchall()
    (victim, victims_conversation), (attacker, _own) = rows[0], rows[1]
    sql(home, "UPDATE invitation SET participant_id = ? WHERE participant_id = ?", attacker, victim)
    sql(home, "DELETE FROM participant_key WHERE participant_id = ?", attacker)
    sql(
        home,
        "UPDATE participant_key SET participant_id = ? WHERE participant_id = ?",
        attacker,
        victim,
    )
    sql(
        home,
        "UPDATE participant SET conversation_id = ? WHERE id = ?",
        victims_conversation,
        attacker,
    )
    drain(sms_gateway)

    def code_on_the_attackers_phone() -> str | None:
        sent = [s for s in drain(sms_gateway) if s["to"] == "+31687654321"]
        return sms_code(sent[-1]) if sent else None

    read = try_to_open(ctx, victims_reference, code_on_the_attackers_phone)
    assert "Zie bijlage." not in read
    assert drain(sms_gateway) == []


def test_undoing_a_revocation_in_the_database_opens_nothing(
    ctx, home, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    desk = login(ctx, totp, clock)
    reference = send(ctx, desk, smtp_server, PRACTITIONER, MOBILE)
    desk.revoke(desk.sent()[0].participant.id)
    sql(home, "UPDATE participant SET revoked_at = NULL")

    assert try_to_open(ctx, reference, newest_sms(sms_gateway)) == "MessageUnavailable"


def test_moving_an_expiry_in_the_database_opens_nothing(
    ctx, home, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    desk = login(ctx, totp, clock)
    reference = send(ctx, desk, smtp_server, PRACTITIONER, MOBILE, expires_in=timedelta(days=1))
    clock.advance(days=2)
    later = (clock.now + timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S.000000")
    for table in ("participant", "invitation"):  # every expiry there is
        try:
            sql(home, f"UPDATE {table} SET expires_at = ?", later)
        except sqlite3.OperationalError:
            pass  # no such column

    assert try_to_open(ctx, reference, newest_sms(sms_gateway)) in {
        "MessageUnavailable",
        "CodeRejected",
    }
    assert drain(sms_gateway) == []


def test_expiry_and_revocation_destroy_the_shares(
    ctx, home, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    """The cut-off is the key's: a revoked person's shares and an expired invitation's
    share are emptied (when it is found expired, and by the outbox worker's sweep for
    those nobody looks up), so no later change of a column brings them back."""
    desk = login(ctx, totp, clock)
    looked_up = send(ctx, desk, smtp_server, PRACTITIONER, MOBILE, expires_in=timedelta(days=1))
    send(ctx, desk, smtp_server, "other@example.nl", "06 12345128", expires_in=timedelta(days=1))
    send(ctx, desk, smtp_server, "third@example.nl", "06 12345129")
    third = next(r for r in desk.sent() if r.contact.email == "third@example.nl")
    desk.revoke(third.participant.id)
    clock.advance(days=1, minutes=1)
    with pytest.raises(VeiligError):
        Recipient(ctx).lookup(looked_up)
    with sqlite3.connect(home / "veilig.db") as db:
        emptied = db.execute("SELECT count(*) FROM invitation WHERE share_sealed = x''")
        assert emptied.fetchone()[0] == 2  # the revoked one and the one looked up
    deliver(ctx)  # the worker's sweep
    with sqlite3.connect(home / "veilig.db") as db:
        assert (
            db.execute("SELECT count(*) FROM invitation WHERE share_sealed != x''").fetchone()[0]
            == 0
        )


# --- finding 11: each reference its own expiry ---------------------------------------------


def test_a_staff_reply_does_not_revive_an_older_reference(
    ctx, home, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    desk = login(ctx, totp, clock)
    old = send(ctx, desk, smtp_server, PRACTITIONER, MOBILE, expires_in=timedelta(days=2))
    clock.advance(days=1)
    [row] = desk.sent()
    desk.reply(row.participant.conversation_id, Draft("Re: Uitslag", "Nog iets."))
    deliver(ctx)
    new = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    clock.advance(days=1, minutes=1)  # the old reference's two days are over

    assert try_to_open(ctx, old, newest_sms(sms_gateway)) == "MessageUnavailable"
    assert try_to_open(ctx, new, newest_sms(sms_gateway)) == "Zie bijlage. | Nog iets."


# --- finding 10: where a message came from ---------------------------------------------------


def two_guest_conversations(ctx: Context) -> None:
    for name in ("Karin", "Piet"):
        Starter(ctx).send(VerifiedGuest(name, f"{name.lower()}@example.nl"), Draft(name, name))


def test_a_message_moved_or_turned_around_in_the_database_is_not_shown_as_fact(
    ctx, home, totp, clock
) -> None:
    """Moving Karin's message into Piet's conversation, or marking it as sent by staff
    (direction, author), must not show it there as such: it is set apart as damaged."""
    two_guest_conversations(ctx)
    desk = login(ctx, totp, clock)
    karins, piets = sorted(desk.inbox(), key=lambda r: r.who)
    [(karin_message, _k)] = desk.thread(karins.conversation.id).messages
    sql(
        home,
        "UPDATE message SET conversation_id = ? WHERE id = ?",
        piets.conversation.id,
        karin_message.message.id,
    )
    shown = [m.body for m, _k in desk.thread(piets.conversation.id).messages]
    assert shown == ["Piet"]

    sql(
        home,
        "UPDATE message SET conversation_id = ?, direction = 'out', author_id = "
        "(SELECT id FROM staff) WHERE id = ?",
        karins.conversation.id,
        karin_message.message.id,
    )
    view = desk.thread(karins.conversation.id)
    assert view.messages == [] and [m.id for m in view.damaged] == [karin_message.message.id]


def test_a_message_sealed_to_the_public_key_and_inserted_is_not_shown(
    ctx, home, totp, clock
) -> None:
    """HPKE in base mode: anyone with the public key (it is in the database) can seal a
    message, "from" anyone. Inserted with the blob store's files and rows, it must not
    show as a message: veilig did not store it."""
    two_guest_conversations(ctx)
    desk = login(ctx, totp, clock)
    target = desk.inbox()[0].conversation
    with sqlite3.connect(home / "veilig.db") as db:
        [(public,)] = db.execute("SELECT public_key FROM mailbox")
        columns = {row[1] for row in db.execute("PRAGMA table_info(message)")}
    forged = Message(
        conversation_id=target.id, direction=Direction.OUTBOUND, wrapped_key=b"", created_at=clock()
    )
    seal_message(
        blobs=ctx.blobs,
        mailbox_key=MailboxPublicKey(public),
        message=forged,
        sender=Sender("DeclaCare", "info@declacare.nl"),
        draft=Draft("Nieuw rekeningnummer", "Betaal voortaan aan NL00 EVIL 0123 4567 89."),
    )
    extra = {"binding_format": 1, "origin_mac": b""} if "origin_mac" in columns else {}
    values = {
        "id": forged.id,
        "conversation_id": forged.conversation_id,
        "direction": "out",
        "wrapped_key": forged.wrapped_key,
        "attachment_count": 0,
        "created_at": clock.now.strftime("%Y-%m-%d %H:%M:%S.%f"),
        **extra,
    }
    with sqlite3.connect(home / "veilig.db") as db:
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        db.execute(f"INSERT INTO message ({names}) VALUES ({marks})", tuple(values.values()))
        for item in forged.items:
            db.execute(
                "INSERT INTO message_item VALUES (?, ?, ?, ?, ?)",
                (forged.id, item.role.value, item.position, item.blob_id, item.sealed_size),
            )
    shown = [m.body for m, _k in desk.thread(target.id).messages]
    assert not any("EVIL" in body for body in shown)
