"""``veilig serve ssh``: the guided dialogs over SSH, one ``veilig`` process per person.

Who may connect:
- ``guest``: no authentication; lands on the choice between writing to us and
  opening a secure message (``veilig guest``).
- staff: public-key authentication only; the key's SHA256 fingerprint (registered with
  ``veilig staff add-key``) names the account, whatever user name the client sends;
  the desk then asks for password and TOTP as always.
- ``f-…``: the file login of one live session (SFTP and scp only, inside its area).

Everything else is refused: exec, subsystems, port/agent/X11 forwarding, a session
without a PTY (one line, then exit status 2), more than one terminal per connection,
and connections above the limits in :mod:`core.policy`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from asyncssh.stream import SSHServerStreamSession

from core.i18n import _
from core.policy import DEFAULT_POLICY, Policy
from tui.ssh.files import LOGIN_PREFIX, AreaSFTPServer, FileAreas, SessionArea
from tui.ssh.keys import load_or_create_host_key, staff_keys
from tui.ssh.session import PtySession

log = logging.getLogger(__name__)

GUEST = "guest"


@dataclass
class Hub:
    """What all connections of one server share."""

    home: Path
    areas: FileAreas
    public_host: str
    port: int = 0
    policy: Policy = DEFAULT_POLICY
    veilig: Sequence[str] = (sys.executable, "-m", "tui.cli")
    per_address: Counter[str] = field(default_factory=Counter)
    sessions: list[PtySession] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.per_address.values())


class VeiligSSHServer(asyncssh.SSHServer):
    """One per connection: decides who this is and what they may open."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.conn: asyncssh.SSHServerConnection | None = None
        self.address = ""
        self.role = ""  # guest, staff or files
        self.staff_email = ""
        self.area: SessionArea | None = None
        self.terminals = 0

    # --- the connection ------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.address = str((conn.get_extra_info("peername") or ("?",))[0])
        policy = self.hub.policy
        if (
            self.hub.per_address[self.address] >= policy.ssh_connections_per_address
            or self.hub.total >= policy.ssh_connections_total
        ):
            log.warning("ssh: too many connections from %s", self.address)
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, _("too many connections"))
            self.address = ""  # not counted
            return
        self.hub.per_address[self.address] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address:
            self.hub.per_address[self.address] -= 1
            if self.hub.per_address[self.address] <= 0:
                del self.hub.per_address[self.address]
            self.address = ""
        if self.area is not None and self.conn in self.area.connections:
            self.area.connections.remove(self.conn)

    # --- authentication --------------------------------------------------------------

    def begin_auth(self, username: str) -> bool:
        if username == GUEST:
            self.role = GUEST
            return False  # no authentication: anyone may write to us
        if username.startswith(LOGIN_PREFIX):
            area = self.hub.areas.find(username)
            if area is not None and self.conn is not None:
                self.role, self.area = "files", area
                area.connections.append(self.conn)
                return False  # the 160-bit login is the secret
        self.role = "staff"
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.role != "staff":
            return False
        email = staff_keys(self.hub.home).get(str(key.get_fingerprint("sha256")))
        if email is None:
            log.info("ssh: unknown key %s from %s", key.get_fingerprint("sha256"), self.address)
            return False
        self.staff_email = email
        return True

    # --- what may be opened -----------------------------------------------------------

    def session_requested(self) -> asyncssh.SSHServerSession[bytes] | bool:
        if self.role == "files" and self.area is not None:
            area = self.area
            return SSHServerStreamSession(None, lambda chan: AreaSFTPServer(chan, area), 3, True)
        if self.role not in (GUEST, "staff") or self.terminals:
            return False  # one terminal (one process) per connection
        self.terminals += 1
        if self.role == GUEST:
            args = ["guest"]
        else:
            args = ["desk", "--email", self.staff_email]
        return PtySession(self.hub, args)

    def connection_requested(self, *args: object) -> bool:
        return False

    def server_requested(self, *args: object) -> bool:
        return False

    def unix_connection_requested(self, *args: object) -> bool:
        return False

    def unix_server_requested(self, *args: object) -> bool:
        return False


async def start_server(hub: Hub, host: str, port: int) -> asyncssh.SSHAcceptor:
    key = load_or_create_host_key(hub.home)
    server = await asyncssh.create_server(
        lambda: VeiligSSHServer(hub),
        host,
        port,
        server_host_keys=[key],
        encoding=None,
        agent_forwarding=False,
        x11_forwarding=False,
        allow_pty=True,
        line_editor=False,  # the app reads raw keys; asyncssh must not edit lines
        login_timeout=hub.policy.ssh_login_timeout.total_seconds(),
    )
    hub.port = server.get_port()
    return server


async def stop_server(hub: Hub, server: asyncssh.SSHAcceptor) -> None:
    server.close()
    await server.wait_closed()
    for session in list(hub.sessions):
        session.connection_lost(None)
        if session.chan is not None:
            session.chan.close()
    for _round in range(100):
        if not hub.sessions:
            break
        await asyncio.sleep(0.05)
    hub.areas.close()


def host_fingerprint(home: Path) -> str:
    return str(load_or_create_host_key(home).get_fingerprint("sha256"))
