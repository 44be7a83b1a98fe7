"""The desk as a team tool (issue 14), through the core: whose move a conversation is,
who handles it, the inbox's views, search as staff type, and the wrong-recipient guard.
Real SQLite, real SMTP and SMS on loopback, two staff members on one home."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from core.clock import FrozenClock
from core.contact import Contact
from core.desk import Desk
from core.guard import Known, one_edit_away
from core.heading import HeadingKey
from core.models import ConversationState, Method, View
from core.policy import Policy
from core.recipient import Recipient
from core.sealing import Draft
from core.search import SearchKey, words
from core.starter import Starter, VerifiedGuest
from core.team import TakenMeanwhile
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    deliver,
    make_settings,
    reference_in,
    sms_code,
)
from tests.team_helpers import COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, add_colleague
from tui.factory import make_context

PRACTITIONER = "j.jansen@praktijk.nl"


@pytest.fixture
def ctx(home: Path, policy: Policy, clock: FrozenClock, smtp_server: SmtpServer, sms_gateway):
    return make_context(
        make_settings(home, smtp_server.url, sms_gateway.url), policy=policy, clock=clock
    )


@pytest.fixture
def team(ctx, initialised, totp: pyotp.TOTP, clock: FrozenClock) -> tuple[Desk, Desk]:
    """The first staff member and a colleague, both logged in."""
    colleague_totp = add_colleague(ctx, initialised[1])
    me = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    colleague = Desk.login(ctx, COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, colleague_totp.at(clock.now))
    return me, colleague


def guest_writes(ctx, clock: FrozenClock, name: str, email: str, subject: str) -> None:
    Starter(ctx).send(VerifiedGuest(name, email), Draft(subject, "Een vraag."))
    clock.advance(minutes=1)


def ids(rows) -> list[str]:
    return [row.who for row in rows]


def test_a_guests_message_is_open_and_nobodys_until_one_of_the_team_takes_it(
    ctx, team, clock
) -> None:
    me, colleague = team
    guest_writes(ctx, clock, "Karin Janssen", "karin@huidtherapiex.nl", "Declaratie")
    [row] = me.inbox(View.UNASSIGNED)
    conversation = row.conversation
    assert conversation.state is ConversationState.OPEN and row.handler == ""
    assert me.inbox(View.MINE) == [] and colleague.inbox(View.MINE) == []

    colleague.take(conversation.id)
    assert me.inbox(View.UNASSIGNED) == []
    assert ids(colleague.inbox(View.MINE)) == ["Karin Janssen"] and me.inbox(View.MINE) == []
    [seen] = me.inbox(View.ALL)
    assert seen.handler == COLLEAGUE_EMAIL

    # I still saw it as nobody's: my take says who was quicker, and changes nothing.
    with pytest.raises(TakenMeanwhile, match=COLLEAGUE_EMAIL):
        me.take(conversation.id, expected=None)
    assert ids(colleague.inbox(View.MINE)) == ["Karin Janssen"]
    # Taking over from the colleague, knowingly.
    me.take(conversation.id, expected=colleague.staff.id)
    assert ids(me.inbox(View.MINE)) == ["Karin Janssen"] and colleague.inbox(View.MINE) == []


def test_a_removed_colleagues_conversations_go_back_to_the_team(
    ctx, team, clock, totp: pyotp.TOTP
) -> None:
    from core.staff import authorise

    me, colleague = team
    guest_writes(ctx, clock, "Karin Janssen", "karin@huidtherapiex.nl", "Declaratie")
    [row] = me.inbox(View.UNASSIGNED)
    colleague.take(row.conversation.id)
    assert me.inbox(View.UNASSIGNED) == []

    clock.advance(seconds=30)  # a fresh authenticator code for the admin's command
    authorise(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now)).remove(COLLEAGUE_EMAIL)
    [back] = me.inbox(View.UNASSIGNED)
    assert back.conversation.id == row.conversation.id and back.handler == ""


def test_a_reply_makes_it_waiting_an_answer_from_outside_open_and_closed_stays_findable(
    ctx, team, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    me, colleague = team
    guest_writes(ctx, clock, "Karin Janssen", "karin@huidtherapiex.nl", "Declaratie")
    [row] = me.inbox()
    me.reply(row.conversation.id, Draft("Re: Declaratie", "Is goedgekeurd."))
    [row] = colleague.inbox()
    # Replying took it: nobody had it.
    assert row.conversation.state is ConversationState.WAITING and row.handler == STAFF_EMAIL

    clock.advance(minutes=1)
    me.send_new(
        Contact(email=PRACTITIONER, phone="06 12345127", name="J. Jansen"),
        Method.SMS,
        Draft("Verwijzing", "Zie bijlage."),
    )
    deliver(ctx)
    reference = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    [new, _guest] = colleague.inbox()
    assert new.conversation.state is ConversationState.WAITING and new.handler == STAFF_EMAIL

    colleague.close(new.conversation.id)
    assert [r.who for r in me.inbox(View.CLOSED)] == ["J. Jansen"]
    assert "J. Jansen" not in ids(me.inbox(View.MINE))
    assert ids(me.inbox(View.ALL)) == ["J. Jansen", "Karin Janssen"]  # closed ones too

    # The practitioner answers a closed conversation: it is open again, on the desk's side.
    recipient = Recipient(ctx)
    invited = recipient.lookup(reference)
    sent = recipient.request_code(invited)
    deliver(ctx)
    thread = recipient.verify(sent, sms_code(sms_gateway.next()))
    clock.advance(minutes=5)
    recipient.reply(thread, Draft("Re: Verwijzing", "Dank, ontvangen."))
    [row, _karin] = me.inbox(View.MINE)
    assert row.who == "J. Jansen" and row.conversation.state is ConversationState.OPEN
    assert me.inbox(View.CLOSED) == []

    me.close(row.conversation.id)
    me.reopen(row.conversation.id)
    assert me.inbox(View.MINE)[0].conversation.state is ConversationState.OPEN


def test_closing_a_conversation_nobody_had_names_who_closed_it(ctx, team, clock) -> None:
    me, colleague = team
    guest_writes(ctx, clock, "Piet Bakker", "piet@example.nl", "Adres")
    [row] = me.inbox()
    colleague.close(row.conversation.id)
    [closed] = me.inbox(View.CLOSED)
    assert closed.handler == COLLEAGUE_EMAIL
    assert me.inbox(View.UNASSIGNED) == []


def test_every_change_another_desk_could_show_moves_the_change_mark(ctx, team, clock) -> None:
    me, colleague = team
    before = me.changes()
    guest_writes(ctx, clock, "Karin Janssen", "karin@huidtherapiex.nl", "Declaratie")
    after_message = me.changes()
    assert after_message > before
    [row] = me.inbox()
    for act in (
        lambda: colleague.take(row.conversation.id),
        lambda: colleague.thread(row.conversation.id),  # read: the unread dot goes
        lambda: colleague.reply(row.conversation.id, Draft("Re", "Ja.")),
        lambda: colleague.close(row.conversation.id),
        lambda: colleague.reopen(row.conversation.id),
    ):
        mark = me.changes()
        act()
        assert me.changes() > mark


# --- search ---------------------------------------------------------------------------


@pytest.mark.both_databases  # several words: an INTERSECT on SQLite, a join on PostgreSQL
def test_search_finds_by_name_address_subject_and_reference_as_staff_type(
    ctx, team, clock, smtp_server: SmtpServer
) -> None:
    me, colleague = team
    guest_writes(ctx, clock, "Karin Janssen", "karin@huidtherapiex.nl", "Declaratie maart")
    guest_writes(ctx, clock, "Ömer Ünal", "omer@fysio-noord.nl", "Verwijzing knie")
    me.send_new(
        Contact(email=PRACTITIONER, phone="06 12345127", name="J. Jansen"),
        Method.SMS,
        Draft("Uitslag röntgen", "Zie bijlage."),
    )
    deliver(ctx)
    reference = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    # The guests' names and subjects are sealed to the mailbox: a desk indexes them.
    assert me.search("karin") == []
    while colleague.index_pending():
        pass

    def found(term: str) -> list[str]:
        return sorted(row.who for row in me.search(term))

    assert found("karin") == ["Karin Janssen"]
    assert found("JANS") == ["J. Jansen", "Karin Janssen"]  # as typed: a prefix, any case
    assert found("janss") == ["Karin Janssen"]
    assert found("unal") == ["Ömer Ünal"] and found("ömer ü") == ["Ömer Ünal"]
    assert found("fysio-noord.nl") == ["Ömer Ünal"]
    assert found(PRACTITIONER) == ["J. Jansen"]
    assert found("röntgen") == ["J. Jansen"] and found("rontg") == ["J. Jansen"]
    assert found("declaratie maart") == ["Karin Janssen"]
    assert found("declaratie knie") == []  # every word must match
    assert found("knieën") == []
    assert found(reference.lower().replace("-", " ")) == ["J. Jansen"]  # a reference, exactly
    assert found("") == [] and found(" - ") == []

    # Closed conversations are searched too.
    [row] = me.search("karin")
    me.close(row.conversation.id)
    assert found("karin") == ["Karin Janssen"]


def test_a_new_message_is_indexed_again_with_its_subject(
    ctx, team, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    me, _colleague = team
    me.send_new(
        Contact(email=PRACTITIONER, phone="06 12345127", name="J. Jansen"),
        Method.SMS,
        Draft("Verwijzing", "Zie bijlage."),
    )
    deliver(ctx)
    reference = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    while me.index_pending():
        pass
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference))
    deliver(ctx)
    thread = recipient.verify(sent, sms_code(sms_gateway.next()))
    recipient.reply(thread, Draft("Akkoordverklaring getekend", "Dank."))
    assert me.search("akkoord") == []  # the reply is the recipient's: nobody indexed it yet
    assert me.index_pending() == 1 and me.index_pending() == 0
    assert [row.who for row in me.search("akkoord")] == ["J. Jansen"]
    assert [row.who for row in me.search("verwijzing")] == ["J. Jansen"]


def test_a_new_mailbox_key_indexes_everything_again_under_its_own_search_key(
    ctx, team, clock
) -> None:
    from core import search

    me, _colleague = team
    guest_writes(ctx, clock, "Karin Janssen", "karin@huidtherapiex.nl", "Declaratie")
    while me.index_pending():
        pass
    # As after `mailbox rotate`: a desk whose key gives another search and heading key.
    other, other_headings = SearchKey(bytes(32)), HeadingKey(bytes(32))
    assert search.find(ctx, other, "karin") == []
    assert search.index_pending(ctx, me._key, other, other_headings) == 1
    assert len(search.find(ctx, other, "karin")) == 1
    assert me.search("karin") == []  # the old key's tokens are gone
    # The heading is the other key's now: this desk's row opens the message instead.
    [row] = me.inbox()
    assert (row.who, row.subject) == ("Karin Janssen", "Declaratie")


def test_words_are_folded_as_people_type_them() -> None:
    assert words("Ömer Ünal-de Vries <omer@fysio.NL>") == [
        "omer",
        "unal",
        "de",
        "vries",
        "omer",
        "fysio",
        "nl",
    ]
    assert words("Straße") == ["strasse"] and words("a_b") == ["a", "b"]


# --- the wrong-recipient guard ----------------------------------------------------------


def test_the_guard_asks_for_a_new_address_and_a_near_miss_and_is_silent_for_a_known_one(
    ctx, team, clock
) -> None:
    me, colleague = team
    me.send_new(
        Contact(email=PRACTITIONER, phone="06 12345127", name="J. Jansen"),
        Method.SMS,
        Draft("Verwijzing", "Zie bijlage."),
    )
    guest_writes(ctx, clock, "Karin Janssen", "karin@huidtherapiex.nl", "Declaratie")
    while me.index_pending():
        pass

    known = colleague.check_recipient(PRACTITIONER)
    assert known.known is Known.KNOWN and not known.ask
    assert colleague.check_recipient(" J.Jansen@Praktijk.NL ").known is Known.KNOWN
    # Only heard from (a guest wrote in, nobody answered): still asked. Someone writing in
    # from a look-alike address must not make it one the desk sends to unasked.
    heard = colleague.check_recipient("karin@huidtherapiex.nl")
    assert heard.known is Known.HEARD and heard.ask
    [karin] = [row for row in me.inbox() if row.who == "Karin Janssen"]
    me.reply(karin.conversation.id, Draft("Re: Declaratie", "Ontvangen."))
    while me.index_pending():
        pass
    assert colleague.check_recipient("karin@huidtherapiex.nl").known is Known.KNOWN

    for typo in (
        "j.janssen@praktijk.nl",  # a letter too many
        "j.jansn@praktijk.nl",  # one left out
        "j.jamsen@praktijk.nl",  # one changed
        "j.jasnen@praktijk.nl",  # two swapped
        "j.jansen@praktjik.nl",  # in the domain
    ):
        check = colleague.check_recipient(typo)
        assert check.known is Known.NEAR and check.near == (PRACTITIONER,), typo
        assert check.ask

    new = colleague.check_recipient("info@ziekenhuis-west.nl")
    assert new.known is Known.NEW and new.ask and new.near == ()
    assert colleague.check_recipient("j.janssen@praktijk.com").known is Known.NEW  # two edits


def test_one_edit_away_is_every_deletion_insertion_change_and_swap() -> None:
    near = one_edit_away("ab")
    assert {"a", "b", "ba", "abc", "xab", "aab", "ax", "cb"} <= near
    assert "ab" not in near and "abcd" not in near
