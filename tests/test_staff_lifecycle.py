"""A team of three on one home (issue 14): an admin invites two, both enrol, two desks
work at once; then one is removed, one is reset, one changes their password, and what
stops working stops at once, also in a desk that is open, and leaves nothing behind.

Each desk is the real desk app under Pilot with its own context (its own engine and
connections: two processes' worth) on the same home; the admin's commands are the
core's (the command line runs them: tests/test_staff_cli.py).
"""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from textual.widgets import Input

from core.audit import Action
from core.clock import FrozenClock
from core.desk import Desk
from core.errors import InvalidInput, LoginFailed, NotAllowed, SessionEnded
from core.i18n import _
from core.models import Role
from core.policy import Policy
from core.sealing import Draft
from core.staff import authorise, listing
from core.starter import Starter, VerifiedGuest
from tests.conftest import STAFF_EMAIL, make_settings
from tests.staff_helpers import as_admin, assert_wraps_gone, enrol_as, wraps_of
from tests.tui_helpers import paste, screen_text, type_text, wait_for_workers
from tui.factory import make_context, make_desk_app

BRAM, CARLA = "bram@declacare.nl", "carla@declacare.nl"
BRAM_PASSWORD = "purple elephant dances slowly"
CARLA_PASSWORD = "seven green kettles whistle"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def ctx(home: Path, policy: Policy, clock: FrozenClock):
    return make_context(make_settings(home), policy=policy, clock=clock)


async def log_in(pilot, email: str, password: str, code: str) -> None:
    await paste(pilot, email)
    await pilot.press("enter")
    await paste(pilot, password)
    await pilot.press("enter")
    await type_text(pilot, code)
    await pilot.press("enter")
    await wait_for_workers(pilot)


def in_inbox(app, email: str) -> bool:
    return _("Inbox · {staff}").format(staff=email) in screen_text(app)


def at_login(app) -> bool:
    return app.screen.__class__.__name__ == "LoginScreen"


async def refresh(pilot) -> None:
    await pilot.press("f5")
    await wait_for_workers(pilot)
    await pilot.pause()  # a screen switched by the worker's outcome draws on the next round


def fails_to_log_in(ctx, clock, email: str, password: str, app: pyotp.TOTP) -> bool:
    clock.advance(seconds=30)
    try:
        Desk.login(ctx, email, password, app.at(clock.now))
    except LoginFailed:
        return True
    return False


async def test_three_staff_invite_enrol_work_at_once_and_lose_access_when_removed_or_reset(
    home: Path, policy: Policy, clock: FrozenClock, ctx, totp: pyotp.TOTP
) -> None:
    settings = make_settings(home)
    Starter(ctx).send(VerifiedGuest("Karin Janssen", "karin@example.nl"), Draft("Vraag", "Hoi"))

    # The admin invites two; each enrols with the e-mailed code and the hand-over code.
    admin = as_admin(ctx, clock, totp)
    bram, bram_app = enrol_as(ctx, home, admin.add(BRAM, "Bram de Vries"), BRAM_PASSWORD)
    carla, carla_app = enrol_as(ctx, home, admin.add(CARLA, "Carla Smit"), CARLA_PASSWORD)
    assert (bram.role, carla.role) == (Role.STAFF, Role.STAFF)
    assert [(m.email, m.role, m.enrolled_at is not None) for m in listing(ctx)] == [
        (STAFF_EMAIL, Role.ADMIN, True),
        (BRAM, Role.STAFF, True),
        (CARLA, Role.STAFF, True),
    ]
    carla_row_before = wraps_of(ctx, CARLA)

    # Two desks at once, each with its own context, as two processes would be.
    ctx_b = make_context(settings, policy=policy, clock=clock)
    ctx_c = make_context(settings, policy=policy, clock=clock)
    desk_b, desk_c = make_desk_app(settings, ctx=ctx_b), make_desk_app(settings, ctx=ctx_c)
    b_running = desk_b.run_test(size=(120, 40), notifications=True)
    c_running = desk_c.run_test(size=(120, 40), notifications=True)
    async with b_running as pb, c_running as pc:
        clock.advance(seconds=30)
        await log_in(pb, BRAM, BRAM_PASSWORD, bram_app.at(clock.now))
        await log_in(pc, CARLA, CARLA_PASSWORD, carla_app.at(clock.now))
        assert in_inbox(desk_b, BRAM) and in_inbox(desk_c, CARLA)
        assert "Karin Janssen" in screen_text(desk_b) and "Karin Janssen" in screen_text(desk_c)

        # Removed while her desk is open: its next action ends the session.
        as_admin(ctx, clock, totp).remove(CARLA)
        await refresh(pc)
        assert at_login(desk_c) and "log in again" in screen_text(desk_c)
        assert "Karin Janssen" not in screen_text(desk_c)
        await refresh(pb)
        assert in_inbox(desk_b, BRAM)  # the others work on
        assert fails_to_log_in(ctx, clock, CARLA, CARLA_PASSWORD, carla_app)
        assert_wraps_gone(home, carla_row_before)
        assert CARLA not in [m.email for m in listing(ctx)]

        # Bram changes his password from the desk (F2): the old one opens nothing.
        bram_row_before = wraps_of(ctx, BRAM)
        await pb.press("f2")
        new_password = "orange submarine plays chess"
        for field, text in (("current", BRAM_PASSWORD), ("new", new_password)):
            desk_b.screen.query_one(f"#{field}", Input).value = text
        desk_b.screen.query_one("#again", Input).value = new_password
        await pb.press("enter")  # in the first field; the button submits
        desk_b.screen.query_one("#again", Input).focus()
        await pb.pause()
        await pb.press("enter")
        await wait_for_workers(pb)
        assert in_inbox(desk_b, BRAM), screen_text(desk_b)  # his own desk goes on
        assert fails_to_log_in(ctx, clock, BRAM, BRAM_PASSWORD, bram_app)
        assert_wraps_gone(home, bram_row_before, totp_too=False)
        clock.advance(seconds=30)
        Desk.login(ctx, BRAM, new_password, bram_app.at(clock.now))

        # Reset (lost phone): his open desk locks, password and TOTP open nothing.
        bram_row_before = wraps_of(ctx, BRAM)
        invited = as_admin(ctx, clock, totp).reset(BRAM)
        await refresh(pb)
        assert at_login(desk_b)
        assert fails_to_log_in(ctx, clock, BRAM, new_password, bram_app)
        assert_wraps_gone(home, bram_row_before)

        # He enrols again with the new invitation, a new password and a new app.
        third = "quiet lanterns drift north"
        _member, bram_app = enrol_as(ctx, home, invited, third)
        clock.advance(seconds=30)
        await log_in(pb, BRAM, third, bram_app.at(clock.now))
        assert in_inbox(desk_b, BRAM) and "Karin Janssen" in screen_text(desk_b)

    with ctx.repo.transaction() as tx:
        actions = [e.action for e in tx.audit_entries()]
        assert ctx.audit.verify(tx) == []
    for action in (
        Action.STAFF_INVITED,
        Action.STAFF_ENROLLED,
        Action.STAFF_REMOVED,
        Action.STAFF_PASSWORD_CHANGED,
        Action.STAFF_RESET,
    ):
        assert action in actions


def test_a_staff_session_ends_at_its_next_action_after_removal(ctx, clock, totp, home) -> None:
    admin = as_admin(ctx, clock, totp)
    _bram, app = enrol_as(ctx, home, admin.add(BRAM, "Bram"), BRAM_PASSWORD)
    clock.advance(seconds=30)
    desk = Desk.login(ctx, BRAM, BRAM_PASSWORD, app.at(clock.now))
    desk.inbox()
    as_admin(ctx, clock, totp).remove(BRAM)
    for action in (desk.inbox, desk.sent, lambda: desk.reply("any", Draft("x", "y"))):
        with pytest.raises(SessionEnded):
            action()


def test_only_an_admin_adds_and_the_last_admin_stays(ctx, clock, totp, home) -> None:
    admin = as_admin(ctx, clock, totp)
    _bram, app = enrol_as(ctx, home, admin.add(BRAM, "Bram"), BRAM_PASSWORD)
    clock.advance(seconds=30)
    with pytest.raises(NotAllowed):
        authorise(ctx, BRAM, BRAM_PASSWORD, app.at(clock.now))
    with pytest.raises(InvalidInput):
        as_admin(ctx, clock, totp).remove(STAFF_EMAIL)
    with pytest.raises(InvalidInput):  # on the team already: reset, not add
        as_admin(ctx, clock, totp).add(BRAM, "Bram")
    with ctx.repo.transaction() as tx:
        assert Action.STAFF_NOT_ADMIN in [e.action for e in tx.audit_entries()]


def test_a_second_admin_can_remove_the_first_and_a_removed_address_comes_back_new(
    ctx, clock, totp, home
) -> None:
    admin = as_admin(ctx, clock, totp)
    _carla, app = enrol_as(ctx, home, admin.add(CARLA, "Carla", Role.ADMIN), CARLA_PASSWORD)
    clock.advance(seconds=30)
    second = authorise(ctx, CARLA, CARLA_PASSWORD, app.at(clock.now))
    second.remove(STAFF_EMAIL)
    assert fails_to_log_in(ctx, clock, STAFF_EMAIL, "correct horse battery staple", totp)
    clock.advance(seconds=30)
    again = authorise(ctx, CARLA, CARLA_PASSWORD, app.at(clock.now)).add(STAFF_EMAIL, "Anna")
    _anna, anna_app = enrol_as(ctx, home, again, "brand new words for anna")
    clock.advance(seconds=30)
    desk = Desk.login(ctx, STAFF_EMAIL, "brand new words for anna", anna_app.at(clock.now))
    assert desk.staff.role is Role.STAFF
