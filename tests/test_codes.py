"""Verification codes in the starter: lifetime, attempts, resend limits, single use."""

from __future__ import annotations

import asyncio
import mailbox
import threading
from pathlib import Path

import pytest

from core.clock import FrozenClock
from core.context import Context
from core.errors import CodeRejected, InvalidInput, RateLimited
from core.policy import Policy
from core.starter import PendingGuest, Starter
from tests.conftest import code_in, make_settings
from tui.factory import make_context

GUEST = "karin@huidtherapiex.nl"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def ctx(home: Path, policy: Policy, clock: FrozenClock) -> Context:
    return make_context(make_settings(home), policy=policy, clock=clock)


def delivered_code(ctx: Context, home: Path, to: str = GUEST) -> str:
    """Deliver the outbox to the Maildir and read the one new code for ``to``, as the
    guest's mail program would (reading moves the mail from new/ to cur/)."""
    asyncio.run(ctx.outbox.deliver_due())
    box = mailbox.Maildir(home / "mail", create=False)
    new = home / "mail" / "new"
    unread = [k for k in box.keys() if (new / k).exists() and box[k]["To"] == to]
    assert len(unread) == 1, f"expected one new mail to {to}, found {len(unread)}"
    message = box[unread[0]]
    (new / unread[0]).rename(home / "mail" / "cur" / f"{unread[0]}:2,S")
    return code_in(message)


def test_the_right_code_unlocks_once(ctx: Context, home: Path) -> None:
    starter = Starter(ctx)
    pending = starter.request_code("Karin Janssen", GUEST)
    code = delivered_code(ctx, home)
    guest = starter.verify(pending, f" {code[:3]} {code[3:]} ")  # pasted with spaces
    assert guest.email == GUEST and guest.name == "Karin Janssen"
    with pytest.raises(CodeRejected) as again:
        starter.verify(pending, code)
    assert again.value.reason == CodeRejected.USED_UP


def test_wrong_code_counts_down_and_then_the_code_is_void(
    ctx: Context, home: Path, policy: Policy
) -> None:
    starter = Starter(ctx)
    pending = starter.request_code("Karin", GUEST)
    code = delivered_code(ctx, home)
    wrong = "000000" if code != "000000" else "111111"
    lefts = []
    for _ in range(policy.code_attempts):
        with pytest.raises(CodeRejected) as rejected:
            starter.verify(pending, wrong)
        lefts.append((rejected.value.reason, rejected.value.attempts_left))
    assert lefts[0] == (CodeRejected.WRONG, policy.code_attempts - 1)
    assert lefts[-1] == (CodeRejected.USED_UP, 0)
    # After too many attempts even the right code no longer works.
    with pytest.raises(CodeRejected) as late:
        starter.verify(pending, code)
    assert late.value.reason == CodeRejected.USED_UP


def test_an_expired_code_is_refused_and_a_new_one_works(
    ctx: Context, home: Path, policy: Policy, clock: FrozenClock
) -> None:
    starter = Starter(ctx)
    pending = starter.request_code("Karin", GUEST)
    code = delivered_code(ctx, home)
    clock.advance(seconds=policy.code_lifetime.total_seconds())
    with pytest.raises(CodeRejected) as expired:
        starter.verify(pending, code)
    assert expired.value.reason == CodeRejected.EXPIRED
    fresh = starter.resend(pending)
    assert starter.verify(fresh, delivered_code(ctx, home)).email == GUEST


def test_resend_is_limited_per_address_per_hour(
    ctx: Context, policy: Policy, clock: FrozenClock
) -> None:
    starter = Starter(ctx)
    pending = starter.request_code("Karin", GUEST)
    with pytest.raises(RateLimited):
        starter.resend(pending)  # a double press within the cool-down
    for _ in range(policy.codes_per_destination_per_hour - 1):
        clock.advance(seconds=policy.code_resend_cooldown.total_seconds())
        pending = starter.resend(pending)
    clock.advance(seconds=policy.code_resend_cooldown.total_seconds())
    with pytest.raises(RateLimited):
        starter.resend(pending)
    # The same address in other letters is the same destination.
    with pytest.raises(RateLimited):
        starter.request_code(
            "Karin", GUEST.upper().replace("@HUIDTHERAPIEX.NL", "@huidtherapiex.nl")
        )
    # Another address is not affected, and the limit lifts after the hour.
    starter.request_code("Piet", "piet@praktijk.nl")
    clock.advance(hours=1)
    starter.resend(pending)


def test_two_racing_verifications_use_a_code_once(ctx: Context, home: Path) -> None:
    starter = Starter(ctx)
    pending = starter.request_code("Karin", GUEST)
    code = delivered_code(ctx, home)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            starter.verify(pending, code)
            results.append("ok")
        except CodeRejected:
            results.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused", "refused", "refused"]


def test_a_code_cannot_be_moved_to_another_challenge(
    ctx: Context, home: Path, clock: FrozenClock
) -> None:
    starter = Starter(ctx)
    first = starter.request_code("Karin", GUEST)
    first_code = delivered_code(ctx, home)
    second = starter.request_code("Piet", "piet@praktijk.nl")
    second_code = delivered_code(ctx, home, "piet@praktijk.nl")
    forged = PendingGuest(name="Piet", email="piet@praktijk.nl", challenge_id=second.challenge_id)
    if first_code != second_code:  # 1 in a million they are equal; then nothing to prove
        with pytest.raises(CodeRejected):
            starter.verify(forged, first_code)
    assert starter.verify(first, first_code).email == GUEST


@pytest.mark.parametrize(
    "address", ["", "karin", "karin@", "@x.nl", "a b@x.nl", "karin@huid therapie.nl"]
)
def test_invalid_addresses_are_refused_with_a_reason(ctx: Context, address: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Starter(ctx).request_code("Karin", address)
    assert "e-mail address" in str(refused.value)


def test_a_malformed_code_costs_no_attempt(ctx: Context, home: Path, policy: Policy) -> None:
    starter = Starter(ctx)
    pending = starter.request_code("Karin", GUEST)
    code = delivered_code(ctx, home)
    for typo in ("abc", "12345", "1234567", "١٢٣٤٥٦"):  # the last: Arabic-Indic digits
        with pytest.raises(CodeRejected) as rejected:
            starter.verify(pending, typo)
        assert rejected.value.reason == CodeRejected.MALFORMED
    for _ in range(policy.code_attempts - 1):
        with pytest.raises(CodeRejected):
            starter.verify(pending, "000000" if code != "000000" else "111111")
    assert starter.verify(pending, code).email == GUEST


def test_the_verification_mail_carries_no_unverified_name(ctx: Context, home: Path) -> None:
    Starter(ctx).request_code("Click http://evil.example to claim", GUEST)
    asyncio.run(ctx.outbox.deliver_due())
    [path] = (home / "mail" / "new").iterdir()
    assert b"evil.example" not in path.read_bytes()
