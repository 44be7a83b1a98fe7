"""Staff over ``veilig serve ssh``, as an admin, a staff member and someone holding a
staff key would try it: the key names one existing account and nothing else can be
typed there; keys are listed and removed; log-ins and quits are logged; the compose
form over SSH (upload command, fast typing, huge pastes)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import asyncssh
import pyotp
import pytest

from core.audit import Action
from core.desk import Desk
from core.policy import Policy
from core.setup import InitResult
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, make_settings
from tests.ssh_helpers import (
    CTRL_N,
    CTRL_Q,
    CTRL_S,
    SHIFT_TAB,
    TAB,
    TIMEOUT,
    Terminal,
    add_staff_member,
    connect,
    e_mail_to,
    server,
    terminal,
    until,
)
from tui.factory import make_context
from tui.ssh.keys import add_staff_key, remove_keys_of, remove_staff_key, staff_keys
from tui.ssh.server import Hub

pytestmark = pytest.mark.slow  # a real SSH server and clients

__all__ = ["server"]  # the fixture, used by name

OTHER = "boekhouding@declacare.nl"
OTHER_PASSWORD = "another long passphrase 42"
GONE = "vertrokken@declacare.nl"


def new_key() -> tuple[asyncssh.SSHKey, str]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key, str(key.get_fingerprint("sha256"))


def audit_entries(home: Path, policy: Policy) -> list:
    ctx = make_context(make_settings(home), policy=policy)
    with ctx.repo.transaction() as tx:
        return list(tx.audit_entries())


async def desk_over_ssh(
    hub: Hub, totp: pyotp.TOTP
) -> tuple[asyncssh.SSHClientConnection, Terminal]:
    key, _fingerprint = new_key()
    add_staff_key(hub.home, STAFF_EMAIL, key.export_public_key().decode())
    conn = await connect(hub, "desk", client_keys=[key])
    term = await terminal(conn)
    await term.wait_for("Code from your authenticator app")
    await term.type(STAFF_PASSWORD, enter=True)
    await term.type(totp.now(), enter=True)
    await term.wait_for(f"Inbox · {STAFF_EMAIL}")
    return conn, term


async def test_a_removed_key_and_a_key_whose_account_is_gone_open_nothing(
    server: Hub, policy: Policy
) -> None:
    # Registered while the account existed; the account has been removed since.
    orphan, orphan_print = new_key()
    add_staff_key(server.home, GONE, orphan.export_public_key().decode())
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(server, "desk", client_keys=[orphan])
    [refused] = [e for e in audit_entries(server.home, policy) if e.action == "ssh.key.refused"]
    assert (refused.actor, refused.detail) == (f"staff:{GONE}", orphan_print)

    removed, removed_print = new_key()
    add_staff_key(server.home, STAFF_EMAIL, removed.export_public_key().decode())
    assert remove_staff_key(server.home, removed_print) == STAFF_EMAIL
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(server, "desk", client_keys=[removed])


async def test_a_key_of_a_removed_staff_member_opens_nothing_though_their_row_stays(
    server: Hub, initialised: tuple[Path, InitResult], policy: Policy
) -> None:
    """`veilig staff remove` keeps the row (the audit log names them) with removed_at set:
    a key still in the file (put back by hand, or a copy) must not open that account."""
    from tests.conftest import make_settings
    from tui.factory import make_context

    add_staff_member(server.home, initialised[1], OTHER, OTHER_PASSWORD, policy)
    key, fingerprint = new_key()
    add_staff_key(server.home, OTHER, key.export_public_key().decode())
    ctx = make_context(make_settings(server.home), policy=policy)
    with ctx.repo.transaction() as tx:
        member = tx.staff_by_email(OTHER)
        assert member is not None
        member.removed_at = ctx.clock()
        tx.save_staff(member)
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(server, "desk", client_keys=[key])
    refused = [e for e in audit_entries(server.home, policy) if e.action == "ssh.key.refused"]
    assert [(e.actor, e.detail) for e in refused] == [(f"staff:{OTHER}", fingerprint)]


async def test_the_key_chooses_the_account_and_no_other_can_be_typed_in(
    server: Hub, initialised: tuple[Path, InitResult], policy: Policy, totp: pyotp.TOTP
) -> None:
    other_totp = add_staff_member(server.home, initialised[1], OTHER, OTHER_PASSWORD, policy)
    key, _fingerprint = new_key()
    add_staff_key(server.home, STAFF_EMAIL, key.export_public_key().decode())
    conn = await connect(server, "whoever", client_keys=[key])
    term = await terminal(conn)
    await term.wait_for("Code from your authenticator app")
    await term.wait_for(STAFF_EMAIL)  # the account the key opens, shown, not a field
    # The button comes after the first frame (tui/desk/login.py); Shift+Tab from the
    # password wraps to it only once it is there, else to the code field.
    await term.wait_for("Log in")

    # Someone with this key and another person's password and code: back to the e-mail,
    # that person's address, then their password and code.
    await term.key(SHIFT_TAB)
    await term.type(OTHER)
    await term.key(TAB)
    await term.type(OTHER_PASSWORD)
    await term.key(TAB)
    await term.type(other_totp.now(), enter=True)
    await term.wait_for("E-mail, password or code is not right")
    assert "Inbox" not in term.text()

    # The key's own person: their password (replacing what was typed) and code.
    await term.key(SHIFT_TAB)
    await term.type(STAFF_PASSWORD)
    await term.key(TAB)
    await term.type(totp.now(), enter=True)
    await term.wait_for(f"Inbox · {STAFF_EMAIL}")
    conn.close()


def test_staff_keys_lists_each_key_with_its_account_and_removes_them(
    initialised: tuple[Path, InitResult], tmp_path: Path, policy: Policy
) -> None:
    from tests.test_cli import veilig

    home, _result = initialised
    prints = []
    for name in ("laptop", "thuis"):
        key, fingerprint = new_key()
        (tmp_path / f"{name}.pub").write_bytes(key.export_public_key())
        added = veilig(home, "staff", "add-key", STAFF_EMAIL, str(tmp_path / f"{name}.pub"))
        assert added.returncode == 0, added.stderr
        prints.append(fingerprint)
    orphan, orphan_print = new_key()
    add_staff_key(home, GONE, orphan.export_public_key().decode())

    listed = veilig(home, "staff", "keys")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert f"{orphan_print}  {GONE}  (no such staff member: refused)" in lines
    for fingerprint in prints:
        assert f"{fingerprint}  {STAFF_EMAIL}" in lines
    assert len(veilig(home, "staff", "keys", STAFF_EMAIL.upper()).stdout.splitlines()) == 2

    removed = veilig(home, "staff", "keys", "--remove", prints[0])
    assert removed.returncode == 0 and STAFF_EMAIL in removed.stdout
    assert prints[0] not in veilig(home, "staff", "keys").stdout
    [gone] = [e for e in audit_entries(home, policy) if e.action == Action.STAFF_KEY_REMOVED]
    assert gone.detail == f"staff:{STAFF_EMAIL} {prints[0]}"
    assert veilig(home, "staff", "keys", "--remove", prints[0]).returncode == 2

    # What `veilig staff remove` calls when an account goes: every key of it goes too.
    assert remove_keys_of(home, STAFF_EMAIL) == [prints[1]]
    assert staff_keys(home) == {orphan_print: GONE}


async def test_staff_log_ins_with_account_and_key_and_a_normal_quit_are_logged(
    server: Hub, policy: Policy, totp: pyotp.TOTP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tui.ssh")
    key, fingerprint = new_key()
    add_staff_key(server.home, STAFF_EMAIL, key.export_public_key().decode())
    conn = await connect(server, "desk", client_keys=[key])
    term = await terminal(conn)
    await term.wait_for("Code from your authenticator app")
    said = [record.getMessage() for record in caplog.records]
    assert any(fingerprint in line and STAFF_EMAIL in line for line in said), said
    [accepted] = [
        e for e in audit_entries(server.home, policy) if e.action == Action.SSH_KEY_ACCEPTED
    ]
    assert (accepted.actor, accepted.detail) == (f"staff:{STAFF_EMAIL}", fingerprint)

    await term.key(CTRL_Q)
    await asyncio.wait_for(term.closed.wait(), TIMEOUT)
    await until(
        lambda: any(
            "ended: exit status 0" in r.getMessage() and STAFF_EMAIL in r.getMessage()
            for r in caplog.records
        ),
        "the quit in the log",
    )


async def test_composing_over_ssh_names_the_upload_and_keeps_fast_and_huge_input_in_bounds(
    server: Hub, policy: Policy, totp: pyotp.TOTP
) -> None:
    conn, term = await desk_over_ssh(server, totp)
    await term.key(CTRL_N)
    await term.wait_for("New secure message")
    [area] = server.areas.areas
    await term.wait_for_flat(f"scp -P {server.port} FILE {area.login}@127.0.0.1:upload/")

    # Typed fast: the address, Tab, the name, Tab, the number, all in one burst.
    term.burst(b"praktijk@fysio-jansen.nl\tFysio Jansen\t06 12345127")
    await term.wait_for("06 12345127")
    await term.key(TAB * 4)  # past the code method, the days and the language: the subject
    huge = "x" * 1024**2  # a megabyte pasted, into the subject and then the body
    term.burst(b"\x1b[200~" + huge.encode() + b"\x1b[201~")
    await term.wait_for("xxxxxxxxxx")
    await term.key(TAB)
    term.burst(b"\x1b[200~" + huge.encode() + b"\x1b[201~")
    await term.key(CTRL_S)
    # The wrong-recipient guard: this address is new to the office; send anyway.
    await term.wait_for("Y Yes", timeout=2 * TIMEOUT)
    term.burst(b"y")
    await term.wait_for(f"Inbox · {STAFF_EMAIL}", timeout=2 * TIMEOUT)

    # The SSH log-in used this time step's code, and a code is never taken twice: the
    # check below logs in with the next step's (within the allowed drift).
    ctx = make_context(make_settings(server.home), policy=policy)
    later = ctx.clock() + timedelta(seconds=policy.totp_interval_seconds)
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(later))
    [row] = desk.sent()
    assert row.contact.email == "praktijk@fysio-jansen.nl"
    assert (row.contact.name, row.contact.phone) == ("Fysio Jansen", "+31612345127")
    assert row.subject == "x" * policy.field_max_chars
    [(sent, _key)] = desk.thread(row.participant.conversation_id).messages
    assert sent.body == "x" * policy.body_max_chars
    notice = await e_mail_to(server.home, "praktijk@fysio-jansen.nl")
    assert "Fysio Jansen" in str(notice.get_payload(decode=True), "utf-8")
    conn.close()
