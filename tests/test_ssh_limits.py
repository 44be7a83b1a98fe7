"""The limits of ``veilig serve ssh`` as an attacker meets them: connections that open
nothing, floods from one source and from several, and what a refused person reads.

One test is several sources: Linux answers on all of 127.0.0.0/8, so connections from
127.0.0.2, 127.0.0.3, ... count as different addresses."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta

import asyncssh
import pytest

from core.policy import Policy
from tests.conftest import STAFF_EMAIL
from tests.ssh_helpers import (
    OPENSSH,
    TIMEOUT,
    connect,
    openssh_options,
    start_hub,
    terminal,
    until,
    with_policy,
)
from tui.ssh.keys import add_staff_key

pytestmark = pytest.mark.slow  # a real SSH server and clients

__all__ = ["start_hub"]  # the fixture, used by name

needs_openssh = pytest.mark.skipif(
    OPENSSH is None, reason="OpenSSH's ssh is not installed (Debian: openssh-client)"
)


async def openssh(port: int, *args: str) -> tuple[int, str]:
    """Run OpenSSH's client to the end; its exit status and what it printed."""
    assert OPENSSH is not None
    run = await asyncio.create_subprocess_exec(
        OPENSSH,
        *openssh_options(port, log_level="INFO"),
        *args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _err = await asyncio.wait_for(run.communicate(), TIMEOUT)
    assert run.returncode is not None
    return run.returncode, out.decode(errors="replace")


@needs_openssh
async def test_a_connection_that_opens_no_session_is_closed_when_the_log_in_window_ends(
    start_hub, policy: Policy
) -> None:
    hub = await start_hub(with_policy(policy, ssh_login_timeout=timedelta(seconds=3)))
    # `ssh -N`: a guest is in at once (no password), and asks for nothing.
    status, said = await openssh(hub.port, "-N", "guest@127.0.0.1")
    assert status == 255
    assert "no session was opened within 3 seconds" in said
    # An asyncssh client that logs in and waits: closed the same way.
    idle = await connect(hub)
    await asyncio.wait_for(idle.wait_closed(), TIMEOUT)
    await until(lambda: not hub.per_source and not hub.waiting, "the counts to be empty")


@needs_openssh
async def test_a_refused_connection_is_told_why_in_words_openssh_shows(
    start_hub, policy: Policy
) -> None:
    hub = await start_hub(with_policy(policy, ssh_connections_per_address=1))
    first = await connect(hub)
    await terminal(first)
    status, said = await openssh(hub.port, "-T", "guest@127.0.0.1")
    assert status == 255
    assert "too many connections from your address" in said, said
    assert "invalid characters" not in said
    first.close()


async def test_idle_connections_are_capped_apart_and_cannot_take_the_places_of_sessions(
    start_hub, policy: Policy
) -> None:
    hub = await start_hub(with_policy(policy, ssh_waiting_per_address=2, ssh_waiting_total=3))
    idle = [await connect(hub, source="127.0.0.2") for _ in range(2)]
    with pytest.raises(asyncssh.DisconnectError, match="too many connections at once"):
        await connect(hub, source="127.0.0.2")  # a third that opens nothing, same source

    # A practitioner elsewhere gets their terminal: waiting is not a session.
    practitioner = await connect(hub, source="127.0.0.3")
    term = await terminal(practitioner)
    await term.wait_for("What would you like to do?")
    await until(lambda: hub.waiting.total() == 2, "the practitioner to stop waiting")

    idle.append(await connect(hub, source="127.0.0.4"))
    with pytest.raises(asyncssh.DisconnectError, match="too many connections at once"):
        await connect(hub, source="127.0.0.5")  # all waiting places taken: the cap in all
    for conn in [*idle, practitioner]:
        conn.close()


async def test_guests_cannot_take_every_terminal_and_staff_keep_their_places(
    start_hub, policy: Policy
) -> None:
    hub = await start_hub(with_policy(policy, ssh_sessions_total=2, ssh_guest_sessions_total=1))
    first = await connect(hub, source="127.0.0.2")
    term = await terminal(first)
    await term.wait_for("What would you like to do?")

    second = await connect(hub, source="127.0.0.3")
    refused = await second.run(term_type="xterm-256color")
    assert refused.exit_status == 1
    assert "veilig is busy" in str(refused.stdout)
    assert len(hub.sessions) == 1

    key = asyncssh.generate_private_key("ssh-ed25519")
    add_staff_key(hub.home, STAFF_EMAIL, key.export_public_key().decode())
    desk = await connect(hub, "desk", source="127.0.0.4", client_keys=[key])
    desk_term = await terminal(desk)
    await desk_term.wait_for("Code from your authenticator app")
    for conn in (first, second, desk):
        conn.close()
