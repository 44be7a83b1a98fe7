"""Guessing against codes and log-ins: what the TOTP field accepts, lifetime caps, and
the numbers and guards that no other test pinned (issue 21, findings 7, 8, 15-17).
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from core.audit import Action
from core.codes import CodeIssuer
from core.contact import Contact
from core.context import Context
from core.desk import Desk
from core.errors import CodeRejected, LoginFailed, RateLimited
from core.models import Method, Purpose
from core.policy import DEFAULT_POLICY, Policy
from core.recipient import Recipient
from core.recipient_steps import MessageUnavailable
from core.sealing import Draft
from core.starter import Starter
from tests.conftest import (
    MAILBOX,
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    body_of,
    deliver,
    delivered_code,
    make_settings,
    reference_in,
    sms_code,
)
from tui.factory import make_context

PRACTITIONER = "praktijk@fysio-jansen.nl"


@pytest.fixture
def ctx(wired_ctx: Context) -> Context:
    return wired_ctx


def failures_recorded(home: Path) -> int:
    with sqlite3.connect(home / "veilig.db") as db:
        return db.execute("SELECT count(*) FROM login_failure").fetchone()[0]


def actions(ctx: Context) -> list[str]:
    with ctx.repo.transaction() as tx:
        return [e.action for e in tx.audit_entries()]


# --- finding 7: the TOTP field -------------------------------------------------------------


@pytest.mark.parametrize("typed", ["١٢٣٤٥٦", "１２３４５６", "12345６", "12 34 5", "1234567"])
def test_a_totp_code_that_is_not_six_ascii_digits_fails_like_a_wrong_one(
    ctx: Context, home: Path, typed: str
) -> None:
    """With the right password, Arabic-Indic or full-width digits raised TypeError (the
    screen stuck at "Checking…"), a wrong password said "failed": an oracle for the
    password that was neither counted nor audited. Now both fail alike, counted."""
    for password in (STAFF_PASSWORD, "not the password"):
        before = failures_recorded(home)
        with pytest.raises(LoginFailed):
            Desk.login(ctx, STAFF_EMAIL, password, typed)
        assert failures_recorded(home) == before + 1
    assert actions(ctx).count(Action.LOGIN_FAILED) == 2


# --- finding 8: lifetime caps --------------------------------------------------------------


def test_a_recipient_is_locked_after_20_wrong_codes_in_all_and_staff_are_told(
    ctx: Context, home: Path, totp, clock, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    """Guessing at 25 an hour per number never ended: after 20 wrong codes over all the
    person's codes (NIST SP 800-63B §5.2.2 allows at most 100) no code is sent any more
    (the answers stay the same), the lock is audited, the mailbox gets an alert, and
    staff unlock it in *Sent*."""
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    desk.send_new(Contact(PRACTITIONER, "06 12345127"), Method.SMS, Draft("x", "y"))
    deliver(ctx)
    reference = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    wrong = 0
    while wrong < 20:
        recipient = Recipient(ctx)
        sent = recipient.request_code(recipient.lookup(reference))
        for _guess in range(5):
            try:
                recipient.verify(sent, "000000")
            except CodeRejected:
                wrong += 1
        clock.advance(minutes=15)  # within the hourly limits
    deliver(ctx)
    while not sms_gateway.received.empty():
        sms_gateway.received.get_nowait()
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference))  # answered as ever …
    deliver(ctx)
    assert sms_gateway.received.empty()  # … and nothing sent
    assert Action.RECIPIENT_LOCKED in actions(ctx)
    alert = smtp_server.bag.next_to(MAILBOX)
    assert "20" in body_of(alert) and PRACTITIONER not in body_of(alert)

    assert desk.unlock(desk.sent()[0].participant.id)
    clock.advance(hours=1)
    sent = Recipient(ctx).request_code(Recipient(ctx).lookup(reference))
    deliver(ctx)
    thread = Recipient(ctx).verify(sent, sms_code(sms_gateway.next()))
    assert [m.body for m, _k in Recipient(ctx).messages(thread)] == ["y"]


def test_a_staff_account_is_locked_after_100_failed_log_ins_in_a_row(
    ctx: Context, home: Path, totp, clock, smtp_server: SmtpServer, monkeypatch
) -> None:
    """The throttle (5 per 15 minutes) resets; 100 failures in a row lock the account
    until `veilig staff unlock`: then even the right password and code fail the same
    way as a wrong one. Audited, and the mailbox is told."""
    for attempt in range(100):
        if attempt and attempt % 5 == 0:
            clock.advance(minutes=15, seconds=1)  # the throttle's window has passed
        with pytest.raises(LoginFailed):
            Desk.login(ctx, STAFF_EMAIL, "not the password", "000000")
    clock.advance(minutes=15, seconds=1)
    with pytest.raises(LoginFailed):
        Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    assert Action.STAFF_LOCKED in actions(ctx)
    deliver(ctx)
    assert STAFF_EMAIL in body_of(smtp_server.bag.next_to(MAILBOX))

    from tui.cli import main

    monkeypatch.setenv("VEILIG_HOME", str(home))
    assert main(["staff", "unlock", STAFF_EMAIL]) == 0
    assert Action.STAFF_UNLOCKED in actions(ctx)
    clock.advance(minutes=15, seconds=1)
    Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))


def test_the_default_lifetime_caps() -> None:
    """The numbers SECURITY.md cites (raising one must fail a test)."""
    assert DEFAULT_POLICY.staff_failed_logins_allowed == 100
    assert DEFAULT_POLICY.recipient_code_failures_allowed == 20


# --- finding 15: an open recipient session is asked again ------------------------------------


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_an_open_recipient_session_ends_when_the_message_is_revoked_or_expires(
    ctx: Context,
    tmp_path: Path,
    totp,
    clock,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    policy: Policy,
    how: str,
) -> None:
    from core.attachments import Attachment

    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF scan")
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    desk.send_new(
        Contact(PRACTITIONER, "06 12345127"),
        Method.SMS,
        Draft("x", "y", (Attachment.from_path(scan, policy),)),
        timedelta(days=1),
    )
    deliver(ctx)
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference_in(smtp_server.bag.next())))
    deliver(ctx)
    thread = recipient.verify(sent, sms_code(sms_gateway.next()))
    [(opened, key)] = recipient.messages(thread)  # the session is open
    if how == "revoked":
        desk.revoke(desk.sent()[0].participant.id)
    else:
        clock.advance(days=1)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MessageUnavailable):
        recipient.messages(thread)
    with pytest.raises(MessageUnavailable):
        recipient.save_attachment(thread, opened, key, 0, out)
    with pytest.raises(MessageUnavailable):
        recipient.reply(thread, Draft("Re: x", "too late"))
    assert list(out.iterdir()) == []


# --- finding 16: single use, guarded twice ---------------------------------------------------


def test_a_used_code_answers_used_up_to_any_code_and_counts_nothing(
    home: Path, policy: Policy, clock
) -> None:
    """The read check in core/codes.py: once used, a code's challenge answers "used up"
    before any comparison, to the right code and to a wrong one alike. Without it a
    used challenge would tell the right code from a wrong one (and count guesses)."""
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    starter = Starter(ctx)
    pending = starter.request_code("Karin", "karin@example.nl")
    code = delivered_code(ctx, home, "karin@example.nl")
    starter.verify(pending, code)
    answers = []
    for typed in (code, "000000" if code != "000000" else "111111"):
        with pytest.raises(CodeRejected) as again:
            starter.verify(pending, typed)
        answers.append((again.value.reason, again.value.attempts_left))
    assert answers == [(CodeRejected.USED_UP, 0)] * 2
    with sqlite3.connect(home / "veilig.db") as db:
        assert db.execute("SELECT attempts FROM challenge").fetchone() == (0,)


def test_two_verifications_that_both_read_the_code_unused_consume_it_once(
    home: Path, policy: Policy, clock
) -> None:
    """The conditional UPDATE (``consumed_at IS NULL``): two transactions that both read
    the challenge before either consumed it (as PostgreSQL's READ COMMITTED lets them;
    SQLite's write lock hides it) must not both succeed. The second one's read is
    played here as the stale copy it would see."""
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    codes = CodeIssuer(policy, ctx.secret, clock)
    with ctx.repo.transaction() as tx:
        issued = codes.issue(tx, Purpose.STARTER, "karin@example.nl")
    challenge_id = issued.challenge.id
    with ctx.repo.transaction() as tx:
        stale = tx.challenge(challenge_id)  # what the second transaction read
    with ctx.repo.transaction() as tx:
        codes.check(tx, challenge_id, issued.code)  # the first one wins

    class StaleRead:
        """The real transaction, but reading the challenge as it was before."""

        def __init__(self, tx) -> None:
            self.tx = tx

        def challenge(self, _id: str):
            return stale

        def __getattr__(self, name: str):
            return getattr(self.tx, name)

    with ctx.repo.transaction() as tx, pytest.raises(CodeRejected) as second:
        codes.check(StaleRead(tx), challenge_id, issued.code)
    assert second.value.reason == CodeRejected.USED_UP


# --- finding 17: the log-in throttle's number ------------------------------------------------


def test_the_default_log_in_throttle_is_5_failures_per_15_minutes(home: Path, clock, totp) -> None:
    """Pinned by its value, not read from the policy: raising the limit must fail here."""
    assert DEFAULT_POLICY.login_failures_allowed == 5
    assert DEFAULT_POLICY.login_failure_window == timedelta(minutes=15)
    ctx = make_context(make_settings(home), policy=DEFAULT_POLICY.with_cheap_kdf(), clock=clock)
    for _attempt in range(5):
        with pytest.raises(LoginFailed):
            Desk.login(ctx, STAFF_EMAIL, "not the password", "000000")
    with pytest.raises(RateLimited):
        Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(RateLimited):
        Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    clock.advance(seconds=2)
    Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
