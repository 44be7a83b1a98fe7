"""A reference's check characters (issue #20, item 4; docs/SECURITY.md "References"):
a typo is said as a typo before anything is looked up, the answer is the same whether
the reference exists or not, and references sent before the check keep working."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from core import access
from core.clock import FrozenClock
from core.contact import Contact
from core.context import Context
from core.errors import InvalidInput
from core.models import Method
from core.policy import Policy
from core.recipient import Recipient
from core.references import (
    ReferenceMistyped,
    check_characters,
    new_reference,
    parse_reference,
    reference_bytes,
)
from core.sealing import Draft
from tests.conftest import make_settings, staff_desk
from tests.test_screens_keep_going import newest_sms_code, reference_for
from tests.tui_helpers import paste, screen_text, wait_for_workers
from tui.factory import make_context, make_recipient_app

PRACTITIONER = "praktijk@fysio.nl"


@pytest.fixture
def ctx(home: Path, policy: Policy, clock: FrozenClock) -> Context:
    return make_context(make_settings(home), policy=policy, clock=clock)


def typo(reference: str, at: int) -> str:
    """``reference`` with the character at ``at`` (of the compact form) changed."""
    compact = list(reference.replace("-", ""))
    compact[at] = "B" if compact[at] != "B" else "C"
    return "".join(compact)


def test_the_check_characters_are_pinned_by_a_known_answer() -> None:
    # SHA-256("veilig/v1/reference-check|" + "A" * 32), first 20 bits, base32.
    assert check_characters("A" * 32) == "DCDN"
    assert parse_reference("a" * 32 + "dcdn") == "-".join(["AAAA"] * 8 + ["DCDN"])


def test_a_new_reference_is_nine_groups_and_its_check_matches() -> None:
    reference = new_reference()
    groups = reference.split("-")
    assert [len(g) for g in groups] == [4] * 9
    assert check_characters("".join(groups[:8])) == groups[8]
    assert parse_reference(reference) == reference
    assert len(reference_bytes(reference)) == 20


def test_a_typo_anywhere_is_said_as_a_typo() -> None:
    reference = new_reference()
    for at in range(36):
        changed = typo(reference, at)
        if check_characters(changed[:32]) == changed[32:]:
            continue  # one in a million: a typo that the check cannot see
        with pytest.raises(ReferenceMistyped):
            parse_reference(changed)
    for wrong_length in (reference[:-1], reference + "A", reference.replace("-", "")[1:]):
        with pytest.raises(InvalidInput):
            parse_reference(wrong_length)


def test_a_typo_is_refused_before_anything_is_looked_up(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lookup() -> None:
        raise AssertionError("the database was asked")

    monkeypatch.setattr(ctx.repo, "transaction", no_lookup)
    with pytest.raises(ReferenceMistyped):
        Recipient(ctx).lookup(typo(new_reference(), 3))


async def test_a_typo_on_screen_says_check_the_reference_and_keeps_what_was_typed(
    ctx: Context, home: Path, totp: pyotp.TOTP
) -> None:
    desk = staff_desk(ctx, totp)
    contact = Contact(email=PRACTITIONER, phone="06 12345127", name="Fysio Jansen")
    desk.send_new(contact, Method.SMS, Draft("Uitslag", "Zie de uitslag."))
    await ctx.outbox.deliver_due()
    real = reference_for(home, PRACTITIONER)
    for typed in (typo(real, 10), typo(new_reference(), 10)):  # known and unknown alike
        app = make_recipient_app(make_settings(home), ctx=ctx)
        async with app.run_test(size=(110, 40)) as pilot:
            await paste(pilot, typed)
            await pilot.press("enter")
            await wait_for_workers(pilot)
            shown = screen_text(app).replace("\n", " ")
            assert "This reference is not right" in shown
            assert "•" not in shown and "verification code" not in shown  # no made-up number
            assert app.screen.query_one("#line").value == typed


async def test_a_reference_sent_before_the_check_still_opens(
    ctx: Context, home: Path, totp: pyotp.TOTP, monkeypatch: pytest.MonkeyPatch
) -> None:
    def old_reference():  # format 1: the 32 random characters, 8 groups of 4
        return new_reference()[:39]

    monkeypatch.setattr(access, "new_reference", old_reference)
    desk = staff_desk(ctx, totp)
    contact = Contact(email=PRACTITIONER, phone="06 12345127", name="Fysio Jansen")
    desk.send_new(contact, Method.SMS, Draft("Uitslag", "Zie de uitslag."))
    await ctx.outbox.deliver_due()
    old = reference_for(home, PRACTITIONER)
    assert len(old.split("-")) == 8
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(old.lower().replace("-", " ")))
    await ctx.outbox.deliver_due()
    thread = recipient.verify(sent, newest_sms_code(home))
    assert [opened.subject for opened, _key in recipient.read(thread).opened] == ["Uitslag"]
