"""``veilig recover`` (issue 14): the office where every admin left or forgot everything
gets a working admin back with only the recovery key, and every old message opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.audit import Action
from core.desk import Desk
from core.errors import CannotOpen, InvalidInput, LoginFailed
from core.keys import new_recovery_key
from core.models import Role
from core.policy import Policy
from core.recovery import recover
from core.sealing import Draft
from core.setup import InitResult
from core.staff import is_admin
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, make_settings, staff_desk
from tests.staff_helpers import all_bodies, enrol_as, make_history, newest_reference
from tui.factory import make_context


@pytest.fixture
def ctx(home: Path, policy: Policy, clock):
    return make_context(make_settings(home), policy=policy, clock=clock)


def test_with_only_the_recovery_key_an_office_gets_a_working_admin_back(
    ctx, clock, totp, home, initialised: tuple[Path, InitResult]
) -> None:
    _reference, bodies = make_history(ctx, home, staff_desk(ctx, totp))
    # From here on nobody knows a password or has an authenticator: only the paper.
    typed = initialised[1].recovery_key.lower()  # as typed from paper

    invited = recover(ctx, typed, "nina@declacare.nl", "Nina Vos")
    _nina, app = enrol_as(ctx, home, invited, "fresh start for the office")
    clock.advance(seconds=30)
    desk = Desk.login(ctx, "nina@declacare.nl", "fresh start for the office", app.at(clock.now))

    assert is_admin(ctx, desk.staff) and desk.staff.role is Role.ADMIN
    assert all_bodies(desk) == bodies  # every old message opens
    [sent] = [row for row in desk.sent() if row.contact.email == "praktijk@fysio-jansen.nl"]
    assert sent.subject == "Uitslag" and sent.replied_at is not None
    # And the office works on: a reply in the practitioner's conversation reaches them.
    desk.reply(sent.participant.conversation_id, Draft("Re: Re: Uitslag", "Graag gedaan."))
    assert newest_reference(ctx, home, "praktijk@fysio-jansen.nl")
    with ctx.repo.transaction() as tx:
        entries = [(e.actor, e.action) for e in tx.audit_entries()]
        assert ctx.audit.verify(tx) == []
    assert ("recovery-key", Action.MAILBOX_RECOVERED) in entries
    assert ("recovery-key", Action.STAFF_INVITED) in entries


def test_the_forgotten_admin_is_reset_and_a_wrong_recovery_key_opens_nothing(
    ctx, clock, totp, home, initialised: tuple[Path, InitResult]
) -> None:
    key = initialised[1].recovery_key
    typo = key[:2] + ("B" if key[2] != "B" else "C") + key[3:]
    with pytest.raises(InvalidInput):  # a typo: said before anything is tried
        recover(ctx, typo, STAFF_EMAIL)
    with pytest.raises(CannotOpen):
        recover(ctx, new_recovery_key(), STAFF_EMAIL)
    with ctx.repo.transaction() as tx:
        assert Action.MAILBOX_RECOVERY_FAILED in [e.action for e in tx.audit_entries()]

    invited = recover(ctx, initialised[1].recovery_key, STAFF_EMAIL)
    clock.advance(seconds=30)
    with pytest.raises(LoginFailed):  # the forgotten password and the old app: gone
        Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    _anna, app = enrol_as(ctx, home, invited, "remembered this time for sure")
    clock.advance(seconds=30)
    desk = Desk.login(ctx, STAFF_EMAIL, "remembered this time for sure", app.at(clock.now))
    assert is_admin(ctx, desk.staff)
