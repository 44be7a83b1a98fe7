"""Verification codes in the starter: formats and what the mail says. Abuse (guessing,
flooding, replay, races) is in ``tests/abuse/test_codes_abuse.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.clock import FrozenClock
from core.context import Context
from core.errors import CodeRejected, InvalidInput
from core.policy import Policy
from core.starter import Starter
from tests.conftest import delivered_code, maildir_of, make_settings
from tui.factory import make_context

GUEST = "karin@huidtherapiex.nl"


@pytest.fixture
def ctx(home: Path, policy: Policy, clock: FrozenClock) -> Context:
    return make_context(make_settings(home), policy=policy, clock=clock)


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
    code = delivered_code(ctx, home, GUEST)
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
    [path] = (maildir_of(home) / "new").iterdir()
    assert b"evil.example" not in path.read_bytes()
