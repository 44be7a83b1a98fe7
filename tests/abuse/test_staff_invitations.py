"""Staff invitations and roles against whoever holds the e-mail, guesses, copies or writes
the database (issue 14): the hand-over of the mailbox key (core.enrolment)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import labels
from core.audit import Action
from core.enrolment import EnrolmentRefused, open_invitation, parse_handover_code
from core.errors import CannotOpen, InvalidInput, KeyDamaged, NotAllowed
from core.keys import MailboxPrivateKey, WrappingKey, staff_invitation_key
from core.models import Role
from core.policy import Policy
from core.staff import authorise
from tests.conftest import make_settings
from tests.staff_helpers import as_admin, enrol_as, invitation_code
from tui.factory import make_context

BRAM = "bram@declacare.nl"
PASSWORD = "purple elephant dances slowly"


@pytest.fixture
def ctx(home: Path, policy: Policy, clock):
    return make_context(make_settings(home), policy=policy, clock=clock)


def sql(home: Path, statement: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "veilig.db") as db:
        return db.execute(statement, args).fetchall()


def another_handover(code: str) -> str:
    """A well-formed hand-over code that is not this one (its check character fits)."""
    from core.enrolment import new_handover_code

    while True:
        other, _raw = new_handover_code()
        if other != code:
            return other


def test_the_email_alone_opens_nothing_and_guessing_the_handover_code_ends_it(
    ctx, clock, totp, home
) -> None:
    """Whoever holds the invitation e-mail has the invitation code; with wrong hand-over
    codes they get "not right" five times, then the invitation is destroyed: the right
    code opens nothing after."""
    invited = as_admin(ctx, clock, totp).add(BRAM, "Bram")
    code = invitation_code(ctx, home, BRAM)
    for left in (4, 3, 2, 1):
        with pytest.raises(EnrolmentRefused, match=f"{left} more"):
            open_invitation(ctx, code, another_handover(invited.handover_code))
    with pytest.raises(EnrolmentRefused, match="open no invitation"):
        open_invitation(ctx, code, another_handover(invited.handover_code))
    assert sql(home, "SELECT count(*) FROM staff_invitation") == [(0,)]
    with pytest.raises(EnrolmentRefused):
        open_invitation(ctx, code, invited.handover_code)
    with ctx.repo.transaction() as tx:
        actions = [e.action for e in tx.audit_entries()]
    assert actions.count(Action.STAFF_ENROL_FAILED) == 6
    assert Action.STAFF_INVITATION_DESTROYED in actions


def test_a_mistyped_handover_code_is_said_at_once_and_costs_no_try(ctx, clock, totp, home) -> None:
    invited = as_admin(ctx, clock, totp).add(BRAM, "Bram")
    code = invitation_code(ctx, home, BRAM)
    typed = invited.handover_code
    swapped = typed[:1] + ("A" if typed[1] != "A" else "B") + typed[2:]
    with pytest.raises(InvalidInput, match="typing error"):
        open_invitation(ctx, code, swapped)
    assert sql(home, "SELECT attempts FROM staff_invitation") == [(0,)]
    # Read aloud and typed leniently: lower case, spaces, 0 for O.
    lenient = typed.lower().replace("-", " ").replace("o", "0")
    assert parse_handover_code(lenient) == parse_handover_code(typed)
    open_invitation(ctx, code, lenient)


def test_a_copy_of_the_database_with_both_codes_opens_nothing_without_server_key(
    ctx, clock, totp, home
) -> None:
    """The thief has the database and both codes (the e-mail and a note of the hand-over
    code) but not server.key: the key also needs the pepper."""
    from core.enrolment import parse_invitation_code

    invited = as_admin(ctx, clock, totp).add(BRAM, "Bram")
    code = parse_invitation_code(invitation_code(ctx, home, BRAM))
    handover = parse_handover_code(invited.handover_code)
    [(invitation_id, staff_id, mailbox_id, wrap)] = sql(
        home,
        "SELECT i.id, s.id, s.mailbox_id, i.wrap FROM staff_invitation i JOIN staff s "
        "ON s.id = i.staff_id",
    )
    binding = labels.staff_invitation_wrap(invitation_id, staff_id, mailbox_id, "staff")
    for salt in (None, bytes(32)):  # no pepper, or a guessed one
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=salt,
            info=labels.staff_invitation(invitation_id),
        ).derive(len(code).to_bytes(2, "big") + code + handover)
        with pytest.raises(CannotOpen):
            WrappingKey(key).unwrap(wrap, binding)
    # With server.key (the host) it opens: the test above tries the right thing.
    right = staff_invitation_key(code, handover, ctx.secret.pepper(), invitation_id)
    assert len(right.unwrap(wrap, binding)) == 96


def test_an_invitation_works_once_and_not_after_72_hours(ctx, clock, totp, home) -> None:
    admin = as_admin(ctx, clock, totp)
    invited = admin.add(BRAM, "Bram")
    code = invitation_code(ctx, home, BRAM)
    opened_twice = [open_invitation(ctx, code, invited.handover_code) for _ in range(2)]
    enrol_as(ctx, home, invited, PASSWORD, code)
    from core.enrolment import enrol

    with pytest.raises(EnrolmentRefused):  # the second enrolment racing for it
        second_app = pyotp.parse_uri(opened_twice[1].totp_uri)
        enrol(ctx, opened_twice[1], "other words for bram", second_app.at(clock.now))
    with pytest.raises(EnrolmentRefused):
        open_invitation(ctx, code, invited.handover_code)

    again = as_admin(ctx, clock, totp).reset(BRAM)
    code = invitation_code(ctx, home, BRAM)
    clock.advance(hours=72)
    with pytest.raises(EnrolmentRefused):
        open_invitation(ctx, code, again.handover_code)
    assert sql(home, "SELECT count(*) FROM staff_invitation") == [(0,)]
    assert ctx.policy.staff_invitation_lifetime == timedelta(hours=72)


def test_a_role_flipped_in_the_database_makes_nobody_an_admin(ctx, clock, totp, home) -> None:
    """A staff member who can write the database sets their own role to admin: still
    not an admin (the role is pinned), and audited. Flipped before enrolment, the
    invitation no longer opens (its wrap is bound to the role it was made for)."""
    admin = as_admin(ctx, clock, totp)
    _bram, app = enrol_as(ctx, home, admin.add(BRAM, "Bram"), PASSWORD)
    sql(home, "UPDATE staff SET role = 'admin' WHERE email = ?", BRAM)
    clock.advance(seconds=30)
    with pytest.raises(NotAllowed):
        authorise(ctx, BRAM, PASSWORD, app.at(clock.now))

    carla = "carla@declacare.nl"
    invited = as_admin(ctx, clock, totp).add(carla, "Carla", Role.STAFF)
    sql(home, "UPDATE staff SET role = 'admin' WHERE email = ?", carla)
    with pytest.raises(EnrolmentRefused):
        open_invitation(ctx, invitation_code(ctx, home, carla), invited.handover_code)


def test_a_public_key_swapped_in_the_database_gets_no_mailbox_key(ctx, clock, totp, home) -> None:
    """The writer puts their own public key on a staff row, hoping the next rotation
    wraps the new mailbox key to it: the rotation refuses before anything changes."""
    admin = as_admin(ctx, clock, totp)
    enrol_as(ctx, home, admin.add(BRAM, "Bram"), PASSWORD)
    attacker = MailboxPrivateKey.generate()
    sql(home, "UPDATE staff SET public_key = ? WHERE email = ?", attacker.public_key().raw, BRAM)
    [(public_before,)] = sql(home, "SELECT public_key FROM mailbox")
    with pytest.raises(KeyDamaged):
        as_admin(ctx, clock, totp).rotate(lambda started: None)
    assert sql(home, "SELECT public_key FROM mailbox") == [(public_before,)]
    assert sql(home, "SELECT count(*) FROM mailbox_rotation") == [(0,)]
